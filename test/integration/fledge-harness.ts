// Integration helpers for Fledge itself: the operator as a real child process (so tests can
// SIGKILL it), the sim in-process, kubectl, and small readers of Rollout state.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import { GROUP, type Rollout, VERSION } from "../../src/api/types.js";
import { repoRoot } from "../../src/devcluster/versions.js";
import { writeActionAnnotation } from "../../src/kube/action-annotation.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningSim, startSim } from "../../src/sim/sim.js";
import { NGINX_COUNTER_QUERIES } from "../../src/traffic/nginx/queries.js";
import { eventually, localCluster } from "./harness.js";

const run = promisify(execFile);

export async function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const cluster = localCluster();
  return new Promise((resolve) => {
    const child = execFile(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs the compiled `fledge` CLI against the local cluster; resolves with its output and exit code. */
export function fledge(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(repoRoot, "bin", "fledge.js"), ...args, `--kubeconfig=${localCluster().kubeconfig}`],
      (err, stdout, stderr) => {
        resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
      },
    );
  });
}

export async function apply(namespace: string, ...objects: object[]): Promise<void> {
  const res = await kubectl(["apply", "-n", namespace, "-f", "-"], objects.map((o) => stringify(o)).join("---\n"));
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

export interface OperatorProcess {
  port: number;
  child: ChildProcess;
  logFile: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

let operatorCount = 0;

/** Starts `fledge operator` (the compiled CLI) against the local cluster and waits for it to
 * serve. Test files run one operator at a time, so leader election is off unless the test
 * passes --leader-elect arguments of its own (a SIGKILLed leader would hold the Lease 15 s). */
export async function startOperatorProcess(label: string, extraArgs: string[]): Promise<OperatorProcess> {
  // Two test files run at once on one cluster: an operator acting on another file's Rollouts
  // would make both wrong.
  if (!extraArgs.some((a) => a.startsWith("--watch-namespaces=")))
    throw new Error(`operator ${label}: scope it to the test's own namespaces with --watch-namespaces`);
  const election = extraArgs.some((a) => a.startsWith("--lease-")) ? [] : ["--no-leader-elect"];
  const cluster = localCluster();
  const logDir = path.join(repoRoot, ".fledge", "test-logs");
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `operator-${label}-${++operatorCount}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, "bin", "fledge.js"),
      "operator",
      `--kubeconfig=${cluster.kubeconfig}`,
      `--prometheus-url=${cluster.prometheusUrl}`,
      "--port=0",
      "--bind=127.0.0.1",
      ...election,
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FLEDGE_LOG_LEVEL: "debug" } },
  );
  let port = 0;
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const match = /"message":"operator started","port":(\d+)/.exec(chunk.toString());
    if (match) port = Number(match[1]);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await eventually(`the operator (${label}) to start; log ${logFile}`, async () => (port > 0 ? port : undefined), 30_000, 100);
  return {
    port,
    child,
    logFile,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      log.end();
    },
    async metric(name: string, labels: Record<string, string> = {}) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      const text = await res.text();
      let total = 0;
      for (const line of text.split("\n")) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(" ").at(-1));
      }
      return total;
    },
  };
}

export function startNamespaceSim(kc: k8s.KubeConfig, namespace: string, rps = 100): Promise<RunningSim> {
  return startSim({
    kc,
    log: createLogger("warn", "sim"),
    rps,
    port: 0,
    namespace,
    prometheusTargetsDir: localCluster().prometheusTargetsDir,
    seed: 42,
  });
}

export function rolloutClient(kc: k8s.KubeConfig, namespace: string) {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const events = kc.makeApiClient(k8s.EventsV1Api);
  const get = async (name: string) =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: "rollouts", name })) as Rollout;
  /** Event reasons for the Rollout, oldest first (by eventTime, which has microseconds). */
  const eventReasons = async (name: string) => {
    const list = await events.listNamespacedEvent({ namespace, fieldSelector: `regarding.name=${name},regarding.kind=Rollout` });
    const time = (e: k8s.EventsV1Event) => new Date(e.eventTime ?? 0).getTime();
    // Ties within a millisecond fall back to creation order (resourceVersion).
    const rv = (e: k8s.EventsV1Event) => Number(e.metadata?.resourceVersion ?? 0);
    return list.items.sort((a, b) => time(a) - time(b) || rv(a) - rv(b)).map((e) => e.reason ?? "");
  };
  return {
    get,
    async patchSpec(name: string, spec: Partial<Rollout["spec"]>) {
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: "rollouts", name, body: { spec } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
    },
    async action(name: string, value: string) {
      await writeActionAnnotation(custom, namespace, name, value);
    },
    async weight(ingress: string): Promise<number | undefined> {
      try {
        const ing = await networking.readNamespacedIngress({ name: `${ingress}-canary`, namespace });
        return Number(ing.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-weight"]);
      } catch {
        return undefined;
      }
    },
    deployment: (name: string) => apps.readNamespacedDeployment({ name, namespace }),
    /** Event reasons for the Rollout, oldest first (by eventTime, which has microseconds). */
    events: eventReasons,
    /** The Event reasons once each of `wanted` is there: Events are recorded just after the
     * status write that reports their move, so a read at that status can come too early. */
    eventsWith: (name: string, ...wanted: string[]) =>
      eventually(`Events ${wanted.join(", ")} of Rollout ${name}`, async () => {
        const list = await eventReasons(name);
        return wanted.every((w) => list.includes(w)) ? list : undefined;
      }),
    async waitFor(name: string, what: string, predicate: (r: Rollout) => boolean, timeoutMs = 120_000): Promise<Rollout> {
      return eventually(
        `${what} (rollout ${namespace}/${name})`,
        async () => {
          const r = await get(name);
          return predicate(r) ? r : undefined;
        },
        timeoutMs,
        200,
      );
    },
  };
}

export const condition = (r: Rollout, type: string) => r.status?.conditions?.find((c) => c.type === type);

/** Promoted: Healthy with the current template as stable, as decided for the latest spec (a
 * status read just after a spec change still shows the previous release as promoted). */
export const isPromoted = (r: Rollout) =>
  r.status?.phase === "Healthy" &&
  r.status.stableRevision === r.status.currentRevision &&
  (r.status.observedGeneration ?? -1) >= (r.metadata.generation ?? 0);

/** A Rollout + Ingress (+ policy) for tests; `errorRate` is what FLEDGE_SIM_ERROR_RATE declares. */
export function testApp(
  name: string,
  opts: {
    image: string;
    errorRate: number;
    steps?: object[];
    policy?: string | null;
    deadline?: number;
    neverReady?: boolean;
    replicas?: number;
  },
) {
  const ingress = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name },
    spec: {
      rules: [
        {
          host: `${name}.example.com`,
          http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }] },
        },
      ],
    },
  };
  const rollout = {
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name },
    spec: {
      replicas: opts.replicas ?? 2,
      template: {
        metadata: { labels: { app: name }, ...(opts.neverReady ? { annotations: { "fledge.dev/sim-never-ready": "true" } } : {}) },
        spec: { containers: [{ name: "app", image: opts.image, env: [{ name: "FLEDGE_SIM_ERROR_RATE", value: String(opts.errorRate) }] }] },
      },
      service: { port: 80, targetPort: 8080 },
      traffic: { nginx: { ingress: name } },
      ...(opts.policy === null ? {} : { analysis: { policy: opts.policy ?? "error-rate" } }),
      strategy: {
        canary: {
          steps: opts.steps ?? [{ setWeight: 20 }, { pause: { duration: "4s" } }, { setWeight: 50 }, { pause: { duration: "4s" } }],
          // fledge sim (pretend routing) rereads the weight twice a second: the canary's pods need
          // to outlive weight 0 by that much, not by the 10 s a real proxy gets (data-plane.test.ts).
          scaleDownDelaySeconds: 1,
        },
      },
      progressDeadlineSeconds: opts.deadline ?? 120,
    },
  };
  return { ingress, rollout };
}

/** Mixture SPRT, 1 s interval, on the pretend ingress-nginx counters of `fledge sim`. α 0.001
 * keeps a false rollback of a good canary (which would fail its test) to 1 in 1,000; a 15 s
 * maxStepDuration lets a good canary pass each step without waiting for the test to accept (a
 * healthy canary is accepted slowly: only errors inform). */
export const sequentialTestPolicy = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "AnalysisPolicy",
  metadata: { name: "sequential" },
  spec: {
    interval: "1s",
    errorRate: {
      ...NGINX_COUNTER_QUERIES,
      judge: { sequential: { alpha: 0.001, beta: 0.05, maxStepDuration: "15s" } },
      minRequests: 50,
      noTraffic: { timeout: "60s", action: "Abort" },
    },
  },
};

/** A fast policy for tests: 2 s intervals, canary errors above 2 % fail. At weight 20 of 100 req/s
 * an interval holds about 40 canary requests, so a 5 % canary fails about 87 % of intervals. A
 * threshold judge on so few requests also fails a 0.5 % canary now and then (that noise is what
 * the sequential judges remove), so "good" test canaries declare 0 % errors. */
export function testPolicy(name = "error-rate", overrides: Record<string, unknown> = {}) {
  return {
    apiVersion: "fledge.dev/v1alpha1",
    kind: "AnalysisPolicy",
    metadata: { name },
    spec: {
      interval: "2s",
      errorRate: {
        ...NGINX_COUNTER_QUERIES,
        judge: { threshold: { maxErrorRate: 0.02, failureLimit: 0 } },
        minRequests: 20,
        noTraffic: { timeout: "20s", action: "Abort" },
      },
      queryErrors: { limit: 3, action: "Abort" },
      ...overrides,
    },
  };
}

export { run };

/** A Prometheus of a test's own (so the test can stop and restart it, or put it behind auth
 * with a --web.config.file), the same build as the local cluster's. */
export async function startOwnPrometheus(dir: string, port?: number, extraArgs: string[] = [], ready?: (url: string) => Promise<boolean>) {
  const { writePrometheusConfig, prometheusArgs } = await import("../../src/devcluster/prometheus.js");
  const { startProcessGroup, stopProcessGroup } = await import("../../src/devcluster/process-group.js");
  const { waitUntilReady, httpStatus } = await import("../../src/devcluster/probe.js");
  const { freePort } = await import("../../src/devcluster/ports.js");
  const files = await writePrometheusConfig(dir);
  const chosen = port ?? (await freePort());
  const { clusterBinaries } = await import("../../src/devcluster/versions.js");
  const proc = startProcessGroup(
    "test-prometheus",
    clusterBinaries().prometheus,
    [...prometheusArgs({ ...files, port: chosen }), ...extraArgs],
    {
      logFile: path.join(dir, "prometheus.log"),
    },
  );
  const url = `http://127.0.0.1:${chosen}`;
  const serving = ready ?? (async (u: string) => (await httpStatus(`${u}/-/ready`)) === 200);
  await waitUntilReady(proc, () => serving(url), 60_000);
  return { url, port: chosen, targetsDir: files.targetsDir, stop: () => stopProcessGroup(proc.pid, 3000) };
}
