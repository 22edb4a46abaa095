// make bench-scale: what thousands of Rollouts cost the operator, on the local cluster (real
// kube-apiserver and etcd; kwok makes the pods cheap; 1-replica Rollouts, each with its Ingress).
//   idle: N Rollouts Healthy (1,000, 5,000, 10,000 — as many as the machine holds in the time
//         allowed): a fresh operator's time to sync them all, then a minute of nothing happening:
//         its RSS and heap, CPU, and API writes and reads;
//   busy: BUSY Rollouts progressing at once (steps of 10 s, analysis every 2 s against the real
//         Prometheus, counters from `fledge sim`): reconcile latency, step-time jitter (what a
//         pause step took minus the 10 s it asked for), Prometheus queries a second, the
//         operator's CPU, and status writes per progressing Rollout per 10 s.
// Prints the tables and writes them to docs/benchmarks.md. Stops by itself: SCALE_MAX_MINUTES
// bounds the idle part (default 45); the table says where it stopped and why.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { installFledgeCrds, startCluster, stopCluster } from "../src/devcluster/cluster.js";
import { freePort } from "../src/devcluster/ports.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { createLogger } from "../src/observability/logger.js";
import { startSim } from "../src/sim/sim.js";
import { NGINX_COUNTER_QUERIES } from "../src/traffic/nginx/queries.js";
import { writeSection } from "./markdown-section.js";

const SIZES = (process.env.SCALE_SIZES ?? "1000,5000,10000").split(",").filter(Boolean).map(Number);
const BUSY = Number(process.env.SCALE_BUSY ?? 500);
const MAX_MS = Number(process.env.SCALE_MAX_MINUTES ?? 45) * 60_000;
const IDLE_MS = 60_000;
const PAUSE_S = 10;
/** Requests a second per Ingress in the busy part: enough that an interval at weight 10 % is conclusive. */
const BUSY_RPS = Number(process.env.SCALE_RPS ?? 50);
/** The operator's --workers (Rollouts reconciled at once). */
const WORKERS = Number(process.env.SCALE_WORKERS ?? 4);
const NODES = Math.ceil((Math.max(0, ...SIZES) + BUSY) / 450) + 1;

const app = (name: string, tag: string, analysed: boolean) => ({
  ingress: {
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
  },
  rollout: {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "Rollout",
    metadata: { name },
    spec: {
      replicas: 1,
      template: template(name, tag),
      service: { port: 80, targetPort: 8080 },
      traffic: { nginx: { ingress: name } },
      ...(analysed ? { analysis: { policy: "busy" } } : {}),
      strategy: {
        canary: {
          steps: [
            { setWeight: 10 },
            { pause: { duration: `${PAUSE_S}s` } },
            { setWeight: 30 },
            { pause: { duration: `${PAUSE_S}s` } },
            { setWeight: 60 },
            { pause: { duration: `${PAUSE_S}s` } },
          ],
          scaleDownDelaySeconds: 1,
        },
      },
      progressDeadlineSeconds: 600,
    },
  },
});

function template(name: string, tag: string) {
  return { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: `example.invalid/${name}:${tag}` }] } };
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Samples of one operator process, from its /metrics. */
const scrape = (port: number) => scrapeUrl(`http://127.0.0.1:${port}/metrics`);

async function scrapeUrl(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    const key = line.slice(0, at);
    values.set(key, (values.get(key) ?? 0) + Number(line.slice(at + 1)));
  }
  return values;
}

/** The sum of a metric's series whose labels contain `label` (e.g. outcome="pass"). */
const sumWhere = (m: Map<string, number>, name: string, label: string) =>
  [...m].filter(([k]) => k.startsWith(`${name}{`) && k.includes(label)).reduce((n, [, v]) => n + v, 0);
const sum = (m: Map<string, number>, prefix: string) =>
  [...m].filter(([k]) => k === prefix || k.startsWith(`${prefix}{`)).reduce((n, [, v]) => n + v, 0);

/** A quantile from a Prometheus histogram's cumulative buckets (linear within a bucket). */
function histogramQuantile(m: Map<string, number>, name: string, q: number): number {
  const buckets = [...m]
    .filter(([k]) => k.startsWith(`${name}_bucket{`))
    .map(([k, v]) => ({ le: /le="([^"]+)"/.exec(k)?.[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(/le="([^"]+)"/.exec(k)?.[1]), v }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.v ?? 0;
  let previous = { le: 0, v: 0 };
  for (const b of buckets) {
    if (b.v >= q * total) {
      if (!Number.isFinite(b.le)) return previous.le;
      return previous.le + ((q * total - previous.v) / Math.max(b.v - previous.v, 1)) * (b.le - previous.le);
    }
    previous = b;
  }
  return Number.NaN;
}

const diff = (a: Map<string, number>, b: Map<string, number>) => new Map([...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)]));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number) : Number.NaN;
};

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "fledge-bench-scale-"));
  const started = Date.now();
  let operator: ChildProcess | undefined;
  const stopOperator = async () => {
    if (!operator || operator.exitCode !== null) return;
    const exited = new Promise((r) => operator?.once("exit", r));
    operator.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
    operator.kill("SIGKILL");
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      operator?.kill("SIGKILL");
      void stopCluster(dir).finally(() => process.exit(130));
    });
  process.stderr.write(`[bench] local cluster with ${NODES} kwok nodes\n`);
  const cluster = await startCluster({ dir, nodes: NODES, dataPlane: false, log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
  const idleRows: string[] = [];
  let busyRows: string[] = [];
  let stoppedBecause = "";
  try {
    const kubectl = (...args: string[]) =>
      execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], { stdio: "pipe" });
    await installFledgeCrds(cluster);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const ns of ["scale", "busy"]) kubectl("create", "namespace", ns);

    const startOperator = async (namespaces: string) => {
      const port = await freePort();
      operator = spawn(
        process.execPath,
        [
          path.join(repoRoot, "bin", "fledge.js"),
          "operator",
          `--kubeconfig=${cluster.kubeconfig}`,
          `--prometheus-url=${cluster.prometheusUrl}`,
          `--port=${port}`,
          "--bind=127.0.0.1",
          "--log-level=warn",
          "--no-leader-elect",
          `--watch-namespaces=${namespaces}`,
          // The defaults (20/40) are for sharing a busy API server; this one is ours alone.
          "--kube-qps=200",
          "--kube-burst=400",
          `--workers=${WORKERS}`,
        ],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
      const pid = operator.pid ?? 0;
      const t0 = Date.now();
      for (;;) {
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        if (Date.now() - t0 > 300_000) throw new Error("the operator did not become ready in 5 minutes");
        await sleep(100);
      }
      return { port, pid, readyMs: Date.now() - t0, t0 };
    };
    const listRollouts = async (namespace: string) =>
      ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: "rollouts" })) as { items: Rollout[] })
        .items;
    const healthyCount = async (namespace: string) =>
      (await listRollouts(namespace)).filter((r) => r.status?.phase === "Healthy" && r.status.stableRevision === r.status.currentRevision)
        .length;

    // ------------------------------------------------------------------ idle
    let op = await startOperator("scale");
    let created = 0;
    for (const n of SIZES) {
      if (Date.now() - started > MAX_MS) {
        stoppedBecause = `stopped before N = ${n.toLocaleString("en")}: the ${MAX_MS / 60_000}-minute bound of the idle part was reached`;
        break;
      }
      const names = Array.from({ length: n - created }, (_, i) => `svc${String(created + i).padStart(5, "0")}`);
      process.stderr.write(`[bench] creating ${names.length} Rollouts (to ${n})\n`);
      const t = Date.now();
      await pool(names, 16, async (name) => {
        const a = app(name, "1", false);
        await objects.create({ ...a.ingress, metadata: { ...a.ingress.metadata, namespace: "scale" } } as k8s.KubernetesObject);
        await objects.create({ ...a.rollout, metadata: { ...a.rollout.metadata, namespace: "scale" } } as k8s.KubernetesObject);
      });
      created = n;
      let healthy = 0;
      while (healthy < n) {
        if (Date.now() - started > MAX_MS) break;
        await sleep(5000);
        healthy = await healthyCount("scale");
        process.stderr.write(`[bench] ${healthy}/${n} Healthy after ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
      }
      // Out of time: measure what is there (the Healthy ones idle, the others still settling), and stop.
      const reached = healthy;
      if (healthy < n)
        stoppedBecause = `stopped at N = ${n.toLocaleString("en")}: ${healthy.toLocaleString("en")} of them were Healthy when the ${MAX_MS / 60_000}-minute bound was reached; that row is measured with the rest still settling. The limit is the local control plane on 2 cores: kube-apiserver near a full core, the controller-manager, kwok and the operator sharing the other, so every write (each Rollout costs its Ingress and Rollout, a Deployment with its ReplicaSet and pod, two Services, a canary Ingress and a few status writes) waits for its turn`;
      const settleS = ((Date.now() - t) / 1000).toFixed(0);
      // A fresh operator: how long until it has every Rollout in its caches and has looked at each once.
      await stopOperator();
      op = await startOperator("scale");
      let synced = Number.NaN;
      for (;;) {
        const m = await scrape(op.port);
        if (sum(m, 'controller_runtime_reconcile_total{controller="rollout",result="success"}') >= n || Date.now() - op.t0 > 600_000) {
          synced = Date.now() - op.t0;
          break;
        }
        await sleep(200);
      }
      await sleep(10_000);
      const before = await scrape(op.port);
      await sleep(IDLE_MS);
      const after = await scrape(op.port);
      const d = diff(before, after);
      const cpu = sum(d, "process_cpu_seconds_total") / (IDLE_MS / 1000);
      const writes = sum(d, "fledge_kube_writes_total");
      const reads = sum(d, "fledge_kube_reads_total");
      const rss = sum(after, "process_resident_memory_bytes");
      const heap = sum(after, "nodejs_heap_size_used_bytes");
      const row = `| ${reached.toLocaleString("en")}${reached < n ? ` Healthy of ${n.toLocaleString("en")}` : ""} | ${mb(rss)}${rss < 1024 ** 3 ? "" : " ✗ (target < 1 GiB)"} | ${mb(heap)} | ${(cpu * 100).toFixed(1)} % | ${writes}${writes === 0 ? "" : " ✗ (target 0)"} | ${reads} | ${(op.readyMs / 1000).toFixed(1)} s / ${(synced / 1000).toFixed(1)} s | ${settleS} s |`;
      idleRows.push(row);
      process.stderr.write(`[bench] ${row}\n`);
      if (reached < n) break;
    }
    await stopOperator();
    if (!stoppedBecause) stoppedBecause = `all sizes done (${SIZES.join(", ")})`;
    // Room for the busy part's pods, and a control plane no longer busy deleting them.
    if (created > 0) {
      process.stderr.write("[bench] deleting the idle Rollouts\n");
      kubectl("delete", "namespace", "scale", "--wait=true", "--timeout=900s");
    }

    // ------------------------------------------------------------------ busy
    busyRows = await busy();

    async function busy(): Promise<string[]> {
      const policy = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "AnalysisPolicy",
        metadata: { name: "busy", namespace: "busy" },
        spec: {
          interval: "2s",
          errorRate: {
            ...NGINX_COUNTER_QUERIES,
            judge: { threshold: { maxErrorRate: 0.05, failureLimit: 2 } },
            minRequests: 5,
            noTraffic: { timeout: "60s", action: "Abort" },
          },
        },
      };
      await objects.create(policy as k8s.KubernetesObject);
      const names = Array.from({ length: BUSY }, (_, i) => `busy${String(i).padStart(4, "0")}`);
      await pool(names, 16, async (name) => {
        const a = app(name, "1", true);
        await objects.create({ ...a.ingress, metadata: { ...a.ingress.metadata, namespace: "busy" } } as k8s.KubernetesObject);
        await objects.create({ ...a.rollout, metadata: { ...a.rollout.metadata, namespace: "busy" } } as k8s.KubernetesObject);
      });
      const sim = await startSim({
        kc,
        log: createLogger("warn", "sim"),
        rps: BUSY_RPS,
        port: 0,
        namespace: "busy",
        prometheusTargetsDir: cluster.prometheusTargetsDir,
        seed: 3,
      });
      try {
        const bop = await startOperator("busy");
        const settling = Date.now();
        while ((await healthyCount("busy")) < BUSY && Date.now() - settling < 20 * 60_000) await sleep(3000);
        // Every pause step's real length, from the status the operator writes at each step.
        const stepStarts = new Map<string, Array<{ step: number; at: number }>>();
        const poll = async () => {
          for (const r of await listRollouts("busy")) {
            const key = r.metadata.name ?? "";
            const seen = stepStarts.get(key) ?? [];
            const step = r.status?.currentStep;
            const at = Date.parse(r.status?.stepStartedAt ?? "");
            if (r.status?.canaryRevision && step !== undefined && Number.isFinite(at) && seen.at(-1)?.step !== step)
              seen.push({ step, at });
            stepStarts.set(key, seen);
          }
        };
        // Prometheus' own counter of instant queries, from its /metrics (it does not scrape itself here).
        const promQueries = async () =>
          sum(await scrapeUrl(`${cluster.prometheusUrl}/metrics`), 'prometheus_http_requests_total{code="200",handler="/api/v1/query"}');
        const before = await scrape(bop.port);
        const q0 = await promQueries();
        const t0 = Date.now();
        await pool(names, 16, (name) =>
          custom.patchNamespacedCustomObject(
            {
              group: GROUP,
              version: VERSION,
              namespace: "busy",
              plural: "rollouts",
              name,
              body: { spec: { template: template(name, "2") } },
            },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
          ),
        );
        let done = 0;
        while (Date.now() - t0 < 15 * 60_000) {
          await poll();
          const list = await listRollouts("busy");
          done = list.filter(
            (r) =>
              (r.status?.phase === "Healthy" && r.status.stableRevision === r.status.currentRevision) || r.status?.phase === "Degraded",
          ).length;
          if (done === BUSY) break;
          await sleep(1000);
        }
        const elapsed = (Date.now() - t0) / 1000;
        const after = await scrape(bop.port);
        const q1 = await promQueries();
        const d = diff(before, after);
        const promoted = (await listRollouts("busy")).filter((r) => r.status?.phase === "Healthy").length;
        const jitter: number[] = [];
        for (const seen of stepStarts.values())
          for (let i = 0; i + 1 < seen.length; i++) {
            const a = seen[i] as { step: number; at: number };
            const b = seen[i + 1] as { step: number; at: number };
            if (a.step % 2 === 1 && b.step === a.step + 1) jitter.push((b.at - a.at) / 1000 - PAUSE_S);
          }
        const statusWrites = sum(d, 'fledge_kube_writes_total{verb="update-status",kind="Rollout"}');
        const per10s = statusWrites / BUSY / (elapsed / 10);
        const p99 = quantile(jitter, 0.99);
        await stopOperator();
        return [
          `| Rollouts progressing at once | ${BUSY} (${promoted} promoted, ${BUSY - promoted} not, in ${elapsed.toFixed(0)} s)${BUSY < 500 ? " ✗ (the target is 500: this run used SCALE_BUSY to fit its time)" : ""} |`,
          `| reconcile latency p50 / p99 | ${(histogramQuantile(d, "controller_runtime_reconcile_time_seconds", 0.5) * 1000).toFixed(0)} ms / ${(histogramQuantile(d, "controller_runtime_reconcile_time_seconds", 0.99) * 1000).toFixed(0)} ms |`,
          `| pause step jitter p50 / p99 (${jitter.length} steps) | ${quantile(jitter, 0.5).toFixed(2)} s / ${p99.toFixed(2)} s${p99 < 2 ? "" : ` ✗ (target < 2 s, over by ${(p99 - 2).toFixed(2)} s)`} |`,
          `| analysis sample lateness p50 / p99 (taken after due) | ${histogramQuantile(d, "fledge_analysis_sample_lateness_seconds", 0.5).toFixed(2)} s / ${histogramQuantile(d, "fledge_analysis_sample_lateness_seconds", 0.99).toFixed(2)} s |`,
          `| analysis ticks: pass / inconclusive / other | ${["pass", "inconclusive"].map((o) => sumWhere(d, "fledge_analysis_outcomes_total", `outcome="${o}"`).toFixed(0)).join(" / ")} / ${(sum(d, "fledge_analysis_outcomes_total") - sumWhere(d, "fledge_analysis_outcomes_total", 'outcome="pass"') - sumWhere(d, "fledge_analysis_outcomes_total", 'outcome="inconclusive"')).toFixed(0)} (an inconclusive tick, too few canary requests, cannot end a pause) |`,
          `| analysis samples a second (all Rollouts) | ${(sum(d, "fledge_analysis_batch_rollouts_sum") / elapsed).toFixed(1)} (${BUSY} at a 2 s interval ask for ${(BUSY / 2).toFixed(0)}) |`,
          `| Rollouts per batch (mean) | ${(sum(d, "fledge_analysis_batch_rollouts_sum") / Math.max(1, sum(d, "fledge_analysis_batch_rollouts_count"))).toFixed(1)} |`,
          `| Prometheus queries a second | ${((q1 - q0) / elapsed).toFixed(1)} (--prometheus-qps 50; a batch is one) |`,
          `| operator CPU | ${((sum(d, "process_cpu_seconds_total") / elapsed) * 100).toFixed(0)} % of a core |`,
          `| status writes per progressing Rollout per 10 s | ${per10s.toFixed(2)}${per10s <= 1 ? "" : ` ✗ (target ≤ 1, over by ${(per10s - 1).toFixed(2)})`} |`,
          `| operator RSS at the end | ${mb(sum(after, "process_resident_memory_bytes"))} |`,
        ];
      } finally {
        await sim.stop();
      }
    }
  } finally {
    await stopOperator();
    await stopCluster(dir);
  }

  const versions = readFileSync(path.join(repoRoot, "scripts", "versions.env"), "utf8")
    .split("\n")
    .filter((l) => /^(KUBERNETES|ETCD|KWOK|PROMETHEUS)_VERSION=/.test(l))
    .map((l) => l.replace("_VERSION=", " "))
    .join(", ");
  const header = `Measured ${new Date().toISOString().slice(0, 10)} on this machine (${process.env.BENCH_MACHINE ?? "2 cores, 24 GiB"}), local cluster (${versions}; ${NODES} kwok nodes), one operator process (--workers ${WORKERS}), 1-replica Rollouts each with its Ingress. Run time ${((Date.now() - started) / 60_000).toFixed(0)} min.`;
  const idle = [
    "### Idle",
    "",
    header,
    "",
    "N Healthy Rollouts, then a fresh operator: its time to become ready (caches filled) and to have reconciled every Rollout once; then a minute with nothing happening. Reads are the operator's own list and get requests (the watches stay open).",
    "",
    "| N | RSS | heap used | CPU (idle minute) | API writes | API reads | ready / all reconciled | N created and Healthy in |",
    "|---|---|---|---|---|---|---|---|",
    ...idleRows,
    "",
    `Where it stopped: ${stoppedBecause}.`,
  ].join("\n");
  const busyBody = [
    "### Busy",
    "",
    header,
    "",
    `${BUSY} Rollouts given a new template at once; steps setWeight 10/30/60 with ${PAUSE_S} s pauses; analysis every 2 s against the real Prometheus (counters from \`fledge sim\` at ${BUSY_RPS} req/s per Ingress). Jitter: what a ${PAUSE_S} s pause step really took, minus ${PAUSE_S} s (it ends at the first passing interval after ${PAUSE_S} s, so up to one 2 s interval of it is the analysis' own).`,
    "",
    "| figure | value |",
    "|---|---|",
    ...busyRows,
  ].join("\n");
  const body = `${SIZES.length > 0 ? idle : ""}\n\n${BUSY > 0 ? busyBody : ""}`;
  process.stdout.write(`${body}\n`);
  if (SIZES.length > 0) writeSection("scale-idle", `## Scale: thousands of Rollouts (\`make bench-scale\`)\n\n${idle}`);
  const file = BUSY > 0 ? writeSection("scale-busy", busyBody) : "";
  process.stdout.write(`\nwritten to ${file}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
