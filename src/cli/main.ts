// The `fledge` command line. Each command lives in its own module; this file only wires them.
import { readFileSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { repoRoot } from "../devcluster/versions.js";
import { registerClusterCommand } from "./cluster-command.js";
import { registerCrdsCommand } from "./crds-command.js";
import { registerDashboardCommand } from "./dashboard-command.js";
import { registerDataPlaneCommand } from "./data-plane-command.js";
import { registerDemoCommand } from "./demo-command.js";
import { registerOperatorCommand } from "./operator-command.js";
import { registerRolloutCommands } from "./rollout-commands.js";
import { registerSimCommand } from "./sim-command.js";
import { registerSimulateCommand } from "./simulate-command.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("fledge")
    .description("Fledge: canary releases for Kubernetes, judged from Prometheus, approved in Slack")
    .showHelpAfterError();
  registerClusterCommand(program);
  registerCrdsCommand(program);
  registerDataPlaneCommand(program);
  registerOperatorCommand(program);
  registerSimCommand(program);
  registerRolloutCommands(program);
  registerSimulateCommand(program);
  registerDemoCommand(program);
  registerDashboardCommand(program);
  program
    .command("version")
    .description("print the version of fledge and of the API it serves")
    .action(() => {
      process.stdout.write(`fledge ${packageVersion()} (API fledge.dev/v1alpha1, Node ${process.version})\n`);
    });
  await program.parseAsync(argv);
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}
