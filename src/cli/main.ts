// The `fledge` command line. Each command lives in its own module; this file only wires them.
import { Command } from "commander";
import { registerClusterCommand } from "./cluster-command.js";
import { registerCrdsCommand } from "./crds-command.js";
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
  registerOperatorCommand(program);
  registerSimCommand(program);
  registerRolloutCommands(program);
  registerSimulateCommand(program);
  registerDemoCommand(program);
  await program.parseAsync(argv);
}
