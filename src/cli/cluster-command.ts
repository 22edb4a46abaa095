// `fledge cluster up|down|env`: the local control plane for development, tests and the demo.
import path from "node:path";
import type { Command } from "commander";
import { type LocalCluster, readClusterState, startCluster, stopCluster } from "../devcluster/cluster.js";
import { repoRoot } from "../devcluster/versions.js";

export const defaultClusterDir = () => process.env.FLEDGE_CLUSTER_DIR ?? path.join(repoRoot, ".fledge", "cluster");

export function envLines(cluster: LocalCluster): string[] {
  return [
    `export KUBECONFIG=${cluster.kubeconfig}`,
    `export PATH=${cluster.kubernetesBinDir}:$PATH`,
    `export FLEDGE_PROMETHEUS_URL=${cluster.prometheusUrl}`,
  ];
}

export function registerClusterCommand(program: Command): void {
  const cluster = program
    .command("cluster")
    .description("the local Kubernetes control plane + Prometheus on 127.0.0.1 (development and tests)");

  cluster
    .command("up")
    .description("start it (or reuse the one already running) and print the environment to use it")
    .option("--dir <dir>", "where the cluster keeps its state", defaultClusterDir())
    .option("--nodes <n>", "how many fake nodes", "1")
    .option(
      "--data-plane <mode>",
      "traefik: real Traefik in a sealed network namespace (falls back to pretend where none can be made); off: pretend routing only",
      "traefik",
    )
    .action(async (opts: { dir: string; nodes: string; dataPlane: string }) => {
      if (opts.dataPlane !== "traefik" && opts.dataPlane !== "off")
        throw new Error(`--data-plane must be traefik or off, not ${opts.dataPlane}`);
      const startedAt = Date.now();
      const result = await startCluster({
        dir: opts.dir,
        nodes: Number(opts.nodes),
        dataPlane: opts.dataPlane === "traefik",
        log: (line) => process.stderr.write(`fledge: ${line}\n`),
      });
      const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
      process.stderr.write(
        result.reused
          ? `fledge: a local cluster is already running in ${result.dir}; reusing it\n`
          : `fledge: local cluster ready in ${seconds} s (Kubernetes ${result.versions.kubernetes}, etcd ${result.versions.etcd}, kwok ${result.versions.kwok}, Prometheus ${result.versions.prometheus}, Gateway API CRDs ${result.versions.gatewayApi})\n`,
      );
      process.stderr.write(`fledge: API server ${result.apiServerUrl}\nfledge: Prometheus ${result.prometheusUrl}\n`);
      process.stderr.write(
        result.dataPlane.kind === "traefik"
          ? `fledge: Traefik ${result.dataPlane.version} (sealed network namespace) at ${result.dataPlane.webUrl}: Gateway ${result.dataPlane.gateway.namespace}/${result.dataPlane.gateway.name}, IngressClass ${result.dataPlane.ingressClass}\n`
          : `fledge: no real data plane (${result.dataPlane.why}); routing is pretended by fledge sim\n`,
      );
      process.stdout.write(`${envLines(result).join("\n")}\n`);
    });

  cluster
    .command("down")
    .description("stop every process of the local cluster and delete its data")
    .option("--dir <dir>", "where the cluster keeps its state", defaultClusterDir())
    .action(async (opts: { dir: string }) => {
      const { stopped } = await stopCluster(opts.dir);
      process.stderr.write(stopped.length > 0 ? `fledge: stopped ${stopped.join(", ")}\n` : "fledge: no local cluster was running\n");
    });

  cluster
    .command("env")
    .description("print the environment lines for the running local cluster")
    .option("--dir <dir>", "where the cluster keeps its state", defaultClusterDir())
    .action(async (opts: { dir: string }) => {
      const state = await readClusterState(opts.dir);
      if (!state?.complete) throw new Error(`no local cluster is running in ${opts.dir}; start one with 'make cluster-up'`);
      process.stdout.write(`${envLines(state).join("\n")}\n`);
    });
}
