// `fledge demo` (what `make demo` runs).
import type { Command } from "commander";
import { runDemo } from "../demo/story.js";

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("the release story on a local cluster: v1 deployed, v2 promoted, v3 (5 % errors) rolled back")
    .option("--keep", "leave the cluster and the operator running afterwards (also KEEP=1)")
    .option("--plain", "plain line output even on a terminal")
    .action(async (opts: { keep?: boolean; plain?: boolean }) => {
      const code = await runDemo({
        keep: Boolean(opts.keep) || process.env.KEEP === "1",
        tty: Boolean(process.stdout.isTTY) && !opts.plain,
      });
      process.exit(code);
    });
}
