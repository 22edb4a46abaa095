// What bench/peers.ts and bench/peers-idle.ts share: the pinned peers (built into the cache by
// scripts/build-cluster-bins.sh), their CRDs, how each controller is started, and stopping them
// all with the cluster however the bench ends.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { installFledgeCrds, type LocalCluster, startCluster, stopCluster, waitForCrdsEstablished } from "../src/devcluster/cluster.js";
import { freePort } from "../src/devcluster/ports.js";
import { repoRoot } from "../src/devcluster/versions.js";

export const versions = Object.fromEntries(
  readFileSync(path.join(repoRoot, "scripts", "versions.env"), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split("=") as [string, string]),
);
const cache = process.env.FLEDGE_CACHE ?? path.join(process.env.HOME ?? "/root", ".cache", "fledge");
const argoDir = path.join(cache, "bin", `argo-rollouts-${versions.ARGO_ROLLOUTS_VERSION}`);
const flaggerDir = path.join(cache, "bin", `flagger-${versions.FLAGGER_VERSION}`);

export type Controller = "fledge" | "argo" | "flagger";

/** Fledge's, Argo Rollouts' and Flagger's CRDs, established. */
export async function installCrds(bench: PeerBench): Promise<void> {
  await installFledgeCrds(bench.cluster);
  for (const f of readdirSync(path.join(argoDir, "crds")).filter((f) => f.endsWith("-crd.yaml")))
    bench.kubectl("apply", "--server-side", "-f", path.join(argoDir, "crds", f));
  bench.kubectl("apply", "--server-side", "-f", path.join(flaggerDir, "crd.yaml"));
  await waitForCrdsEstablished(bench.cluster, ["--all", "crd"], 120_000);
}

/** The command line of a controller, cluster-wide, with its own defaults otherwise. */
async function commandOf(controller: Controller, kubeconfig: string, prometheusUrl: string): Promise<string[]> {
  switch (controller) {
    case "fledge":
      return [
        process.execPath,
        path.join(repoRoot, "bin", "fledge.js"),
        "operator",
        `--kubeconfig=${kubeconfig}`,
        `--prometheus-url=${prometheusUrl}`,
        `--port=${await freePort()}`,
        "--bind=127.0.0.1",
        "--log-level=warn",
        "--no-leader-elect",
      ];
    case "argo":
      return [
        path.join(argoDir, "rollouts-controller"),
        `--kubeconfig=${kubeconfig}`,
        `--metricsPort=${await freePort()}`,
        `--healthzPort=${await freePort()}`,
        "--leader-elect=false",
        "--loglevel=warn",
      ];
    case "flagger":
      return [
        path.join(flaggerDir, "flagger"),
        `-kubeconfig=${kubeconfig}`,
        "-mesh-provider=nginx",
        `-metrics-server=${prometheusUrl}`,
        `-port=${await freePort()}`,
        "-log-level=warn",
        "-enable-config-tracking=false",
      ];
  }
}

/** Flagger's own client defaults, given to all (Fledge's are 20/40, Argo Rollouts' 40/80), and
 * Fledge as many workers as Argo's Rollout controller has (10; Fledge's default is 4). */
const SAME_QPS: Record<Controller, string[]> = {
  fledge: ["--kube-qps=100", "--kube-burst=250", "--workers=10"],
  argo: ["--qps=100", "--burst=250"],
  flagger: ["-kubeconfig-qps=100", "-kubeconfig-burst=250"],
};

export interface PeerBench {
  cluster: LocalCluster;
  kubectl: (...args: string[]) => string;
  /** Starts a controller; its last words are logged if it exits with an error. With `sameQps`,
   * every controller's API client gets Flagger's default rate (100 QPS, burst 250) instead of its
   * own, and Fledge 10 workers, as Argo's Rollout controller has. */
  startController(controller: Controller, kubeconfig: string, options?: { sameQps?: boolean }): Promise<ChildProcess>;
  /** Stops every controller and the cluster. */
  stop(): Promise<void>;
}

/** A local cluster for a peers bench; every process it starts is stopped by stop(), or on SIGINT/SIGTERM. */
export async function startPeerBench(
  name: string,
  options: { nodes?: number; dataPlane?: boolean },
  log: (line: string) => void,
): Promise<PeerBench> {
  const dir = mkdtempSync(path.join(tmpdir(), `fledge-bench-${name}-`));
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      stopAll();
      void stopCluster(dir).finally(() => process.exit(130));
    });
  const cluster = await startCluster({ dir, ...options, log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
  return {
    cluster,
    kubectl: (...args) => execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], { stdio: "pipe" }).toString(),
    async startController(controller, kubeconfig, options = {}) {
      const [command, ...args] = await commandOf(controller, kubeconfig, cluster.prometheusUrl);
      if (options.sameQps) args.push(...SAME_QPS[controller]);
      const child = spawn(command as string, args, { stdio: ["ignore", "ignore", "pipe"] });
      let tail = "";
      child.stderr?.on("data", (d: Buffer) => {
        tail = (tail + d.toString()).slice(-4000);
      });
      child.once("exit", (code) => {
        if (code !== null && code !== 0) log(`${controller} exited with ${code}: ${tail.slice(-1500)}`);
      });
      children.push(child);
      return child;
    },
    async stop() {
      stopAll();
      await stopCluster(dir);
    },
  };
}
