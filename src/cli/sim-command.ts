// `fledge sim`: the clients (and, without a real data plane, the proxy and the pods) of the
// local cluster, for tests and the demo. On a cluster with the real data plane it sends real
// requests through Traefik; otherwise it pretends to route (src/sim/sim.ts) and says so.
import path from "node:path";
import type { Command } from "commander";
import { readClusterState } from "../devcluster/cluster.js";
import { createLogger } from "../observability/logger.js";
import { startLoad } from "../sim/load.js";
import { startSim } from "../sim/sim.js";
import { defaultClusterDir } from "./cluster-command.js";
import { loadKubeConfig } from "./operator-command.js";

interface SimOptions {
  kubeconfig?: string;
  rps: string;
  port: string;
  namespace?: string;
  prometheusTargets?: string;
  seed?: string;
  pretend?: boolean;
  duration: string;
}

export function registerSimCommand(program: Command): void {
  program
    .command("sim")
    .description(
      "the clients of the local cluster: real requests through its Traefik to every HTTPRoute on its Gateway and every NGINX Ingress; without a real data plane (or with --pretend), pretend routing by the Ingress weights with ingress-nginx counters",
    )
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)")
    .option("--rps <n>", "requests per second per route", "100")
    .option("--namespace <ns>", "only this namespace (default: all)")
    .option("--duration <minutes>", "stop by itself after this many minutes", "60")
    .option("--seed <n>", "random seed")
    .option("--pretend", "pretend routing even when the cluster has a real data plane")
    .option("--port <port>", "pretend mode: port for /metrics (0 = any free port)", "0")
    .option(
      "--prometheus-targets <dir>",
      "pretend mode: file-SD folder of the local cluster's Prometheus (default: the one of `make cluster-up`)",
    )
    .action(async (opts: SimOptions) => {
      const log = createLogger(process.env.FLEDGE_LOG_LEVEL ?? "info", "sim");
      const cluster = await readClusterState(defaultClusterDir());
      const kc = loadKubeConfig(opts.kubeconfig ?? (process.env.KUBECONFIG ? undefined : cluster?.kubeconfig));
      const seed = opts.seed ? Number(opts.seed) : undefined;
      const durationMs = Number(opts.duration) * 60_000;
      let stopSim: () => Promise<void>;
      if (cluster?.dataPlane?.kind === "traefik" && !opts.pretend) {
        const load = await startLoad({
          kc,
          log,
          webUrl: cluster.dataPlane.webUrl,
          gateway: cluster.dataPlane.gateway,
          ingressClass: cluster.dataPlane.ingressClass,
          rps: Number(opts.rps),
          namespace: opts.namespace,
          seed,
          maxDurationMs: durationMs,
        });
        process.stderr.write(`fledge sim: ${opts.rps} req/s per route through Traefik at ${cluster.dataPlane.webUrl}\n`);
        stopSim = load.stop;
        void load.done.then(() => process.exit(0));
      } else {
        const why = opts.pretend
          ? "--pretend"
          : cluster?.dataPlane?.kind === "pretend"
            ? cluster.dataPlane.why
            : "no local cluster with a data plane";
        const targets = opts.prometheusTargets ?? cluster?.prometheusTargetsDir;
        const sim = await startSim({
          kc,
          log,
          rps: Number(opts.rps),
          port: Number(opts.port),
          namespace: opts.namespace,
          prometheusTargetsDir: targets ? path.resolve(targets) : undefined,
          seed,
        });
        process.stderr.write(
          `fledge sim: PRETEND routing (${why}): no proxy; ${opts.rps} req/s per Ingress split by its weight; metrics on http://127.0.0.1:${sim.port}/metrics\n`,
        );
        stopSim = sim.stop;
        setTimeout(() => void stop(), durationMs).unref();
      }
      const stop = async () => {
        await stopSim();
        process.exit(0);
      };
      process.once("SIGTERM", () => void stop());
      process.once("SIGINT", () => void stop());
    });
}
