// `fledge data-plane host|inside`: the two halves of the local data plane (src/dataplane/),
// started by `fledge cluster up`, not by people; hidden from the help for that reason.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import type { DataPlaneConfig } from "../dataplane/config.js";
import { runDataPlaneHost } from "../dataplane/host.js";
import { runDataPlaneInside } from "../dataplane/inside.js";
import { repoRoot } from "../devcluster/versions.js";
import { createLogger } from "../observability/logger.js";

const readConfig = async (file: string) => JSON.parse(await readFile(file, "utf8")) as DataPlaneConfig;

export function registerDataPlaneCommand(program: Command): void {
  const dataPlane = program
    .command("data-plane", { hidden: true })
    .description("the local data plane's two halves (run by `fledge cluster up`)");
  dataPlane
    .command("host")
    .requiredOption("--config <file>", "the data plane's config.json")
    .action(async (opts: { config: string }) => {
      const log = createLogger(process.env.FLEDGE_LOG_LEVEL ?? "info", "data-plane");
      const entry = path.join(repoRoot, "bin", "fledge.js");
      process.exit(await runDataPlaneHost(await readConfig(opts.config), path.resolve(opts.config), entry, log));
    });
  dataPlane
    .command("inside")
    .requiredOption("--config <file>", "the data plane's config.json")
    .action(async (opts: { config: string }) => {
      const log = createLogger(process.env.FLEDGE_LOG_LEVEL ?? "info", "data-plane-inside");
      process.exit(await runDataPlaneInside(await readConfig(opts.config), log));
    });
}
