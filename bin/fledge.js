#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (`make build` writes dist/).
// The version check comes first: @kubernetes/client-node 2.x crashes at import on Node < 22.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `fledge: needs Node.js >= 22, but this is ${process.version}. Run it through 'make' (which brings Node 24 into .tools/), or put .tools/node-*/bin first on PATH.\n`,
  );
  process.exit(1);
}
const { main } = await import("../dist/cli/main.js");
main(process.argv).catch((err) => {
  process.stderr.write(`fledge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
