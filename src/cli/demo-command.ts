// `fledge demo` (what `make demo` runs).
import type { Command } from "commander";
import { runDemo } from "../demo/story.js";

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description(
      "the release story on a local cluster with real Traefik: v1 deployed, v2 tried on a preview route then promoted, v3 (5 % errors) rolled back",
    )
    .option("--keep", "leave the cluster and the operator running afterwards (also KEEP=1)")
    .option("--plain", "plain line output even on a terminal")
    .option(
      "--router <router>",
      "gatewayAPI (an HTTPRoute on Traefik) or nginx (NGINX canary annotations on Traefik); also ROUTER=…",
      process.env.ROUTER ?? "gatewayAPI",
    )
    .action(async (opts: { keep?: boolean; plain?: boolean; router: string }) => {
      if (opts.router !== "gatewayAPI" && opts.router !== "nginx")
        throw new Error(`--router must be gatewayAPI or nginx, not ${opts.router}`);
      const code = await runDemo({
        router: opts.router,
        keep: Boolean(opts.keep) || process.env.KEEP === "1",
        tty: Boolean(process.stdout.isTTY) && !opts.plain,
      });
      process.exit(code);
    });
}
