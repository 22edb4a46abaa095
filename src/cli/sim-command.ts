// `fledge sim`: simulated ingress + pods for the local cluster (tests and the demo).
import path from "node:path";
import type { Command } from "commander";
import { readClusterState } from "../devcluster/cluster.js";
import { createLogger } from "../observability/logger.js";
import { startSim } from "../sim/sim.js";
import { defaultClusterDir } from "./cluster-command.js";
import { loadKubeConfig } from "./operator-command.js";

export function registerSimCommand(program: Command): void {
  program
    .command("sim")
    .description(
      "play the ingress controller and the pods on the local cluster: route synthetic traffic by the real Ingress weights, export ingress-nginx counters",
    )
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)")
    .option("--rps <n>", "requests per second per Ingress", "100")
    .option("--port <port>", "port for /metrics (0 = any free port)", "0")
    .option("--namespace <ns>", "only this namespace (default: all)")
    .option("--prometheus-targets <dir>", "file-SD folder of the local cluster's Prometheus (default: the one of `make cluster-up`)")
    .option("--seed <n>", "random seed")
    .action(
      async (opts: { kubeconfig?: string; rps: string; port: string; namespace?: string; prometheusTargets?: string; seed?: string }) => {
        const log = createLogger(process.env.FLEDGE_LOG_LEVEL ?? "info", "sim");
        const cluster = await readClusterState(defaultClusterDir());
        const targets = opts.prometheusTargets ?? cluster?.prometheusTargetsDir;
        const sim = await startSim({
          kc: loadKubeConfig(opts.kubeconfig ?? (process.env.KUBECONFIG ? undefined : cluster?.kubeconfig)),
          log,
          rps: Number(opts.rps),
          port: Number(opts.port),
          namespace: opts.namespace,
          prometheusTargetsDir: targets ? path.resolve(targets) : undefined,
          seed: opts.seed ? Number(opts.seed) : undefined,
        });
        process.stderr.write(`fledge sim: serving ${opts.rps} req/s per Ingress; metrics on http://127.0.0.1:${sim.port}/metrics\n`);
        const stop = async () => {
          await sim.stop();
          process.exit(0);
        };
        process.once("SIGTERM", () => void stop());
        process.once("SIGINT", () => void stop());
      },
    );
}
