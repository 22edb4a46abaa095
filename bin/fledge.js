#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (`make build` writes dist/).
import { main } from "../dist/cli/main.js";

main(process.argv).catch((err) => {
  process.stderr.write(`fledge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
