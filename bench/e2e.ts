// make bench-e2e: the whole loop on the local cluster — real kube-apiserver, real Prometheus
// scraping every 1 s, fledge sim at 100 req/s per Ingress, the operator as a process. For a
// 10× canary (5 % vs 0.5 %) it measures the time from the canary's first traffic (weight > 0 on
// the canary Ingress) to weight 0; for a good canary, the outcome. Five runs of each, with the
// sequential policy and an Argo-style threshold policy side by side (each run in its own
// namespace, all at once). Medians go to docs/benchmarks.md.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { NGINX_COUNTER_QUERIES } from "../src/traffic/nginx/queries.js";
import { templateRevision } from "../src/api/revision.js";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { startCluster, stopCluster } from "../src/devcluster/cluster.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { createLogger } from "../src/observability/logger.js";
import { startSim } from "../src/sim/sim.js";
import { mean, quantile } from "../src/simulate/stats.js";
import { writeSection } from "./markdown-section.js";

const RUNS = Number(process.env.RUNS ?? 5);
const counters = NGINX_COUNTER_QUERIES;
const policies = {
  sequential: { interval: "1s", errorRate: { ...counters, judge: { sequential: { alpha: 0.01, beta: 0.05, maxStepDuration: "2m" } }, minRequests: 100, noTraffic: { timeout: "5m", action: "Abort" } } },
  "argo-style threshold": { interval: "60s", errorRate: { ...counters, judge: { threshold: { maxErrorRate: 0.01, failureLimit: 3 } }, minRequests: 1, noTraffic: { timeout: "10m", action: "Abort" } } },
};

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "fledge-bench-e2e-"));
  const started = Date.now();
  let operator: ChildProcess | undefined;
  // Ctrl-C or a kill still stops everything the benchmark started.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      operator?.kill("SIGKILL");
      void stopCluster(dir).finally(() => process.exit(130));
    });
  }
  const cluster = await startCluster({ dir, log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
  const stops: Array<() => Promise<void>> = [];
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const { execFileSync } = await import("node:child_process");
    execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, "apply", "-k", path.join(repoRoot, "crds")]);
    execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, "wait", "--for=condition=Established", "crd/rollouts.fledge.dev", "crd/analysispolicies.fledge.dev"]);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const networking = kc.makeApiClient(k8s.NetworkingV1Api);
    const create = (o: k8s.KubernetesObject) => objects.create(o);

    operator = spawn(process.execPath, [path.join(repoRoot, "bin", "fledge.js"), "operator", `--kubeconfig=${cluster.kubeconfig}`, `--prometheus-url=${cluster.prometheusUrl}`, "--port=0", "--bind=127.0.0.1", "--log-level=warn"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    const sim = await startSim({ kc, log: createLogger("warn", "sim"), rps: 100, port: 0, prometheusTargetsDir: cluster.prometheusTargetsDir, seed: 7 });
    stops.push(() => sim.stop());

    const template = (tag: string, errorRate: number) => ({
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "app", image: `example.invalid/web:${tag}`, env: [{ name: "FLEDGE_SIM_ERROR_RATE", value: String(errorRate) }] }] },
    });
    // One namespace per (policy, run); all deployed at v1 first.
    const lanes: Array<{ policy: string; ns: string }> = [];
    for (const [policy, spec] of Object.entries(policies)) {
      for (let run = 0; run < RUNS; run++) {
        const ns = `${policy.split(" ")[0]}-${run}`;
        lanes.push({ policy, ns });
        await core.createNamespace({ body: { metadata: { name: ns } } });
        await create({ apiVersion: `${GROUP}/${VERSION}`, kind: "AnalysisPolicy", metadata: { name: "p", namespace: ns }, spec } as k8s.KubernetesObject);
        await create({
          apiVersion: "networking.k8s.io/v1",
          kind: "Ingress",
          metadata: { name: "web", namespace: ns },
          spec: { rules: [{ host: "web.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }] } }] },
        } as k8s.KubernetesObject);
        await create({
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Rollout",
          metadata: { name: "web", namespace: ns },
          spec: {
            replicas: 4,
            template: template("1", 0.005),
            service: { port: 80 },
            traffic: { nginx: { ingress: "web" } },
            analysis: { policy: "p" },
            strategy: { canary: { steps: [{ setWeight: 10 }, { pause: { duration: "2m" } }] } },
            progressDeadlineSeconds: 1800,
          },
        } as k8s.KubernetesObject);
      }
    }
    const get = async (ns: string) => (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: "rollouts", name: "web" })) as Rollout;
    const weight = async (ns: string) => {
      try {
        return Number((await networking.readNamespacedIngress({ name: "web-canary", namespace: ns })).metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-weight"]);
      } catch {
        return Number.NaN;
      }
    };
    const waitAll = async (what: string, done: (r: Rollout) => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const states = await Promise.all(lanes.map((l) => get(l.ns)));
        if (states.every(done)) return;
        await sleep(500);
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    await waitAll("v1 Healthy everywhere", (r) => r.status?.phase === "Healthy", 180_000);

    /** Starts a canary in every lane and measures first traffic → weight 0, and the outcome. */
    const phase = async (tag: string, errorRate: number, timeoutMs: number) => {
      const revision = templateRevision(template(tag, errorRate));
      const firstTraffic = new Map<string, number>();
      const back = new Map<string, number>();
      await Promise.all(
        lanes.map((l) =>
          custom.patchNamespacedCustomObject(
            { group: GROUP, version: VERSION, namespace: l.ns, plural: "rollouts", name: "web", body: { spec: { template: template(tag, errorRate) } } },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
          ),
        ),
      );
      const deadline = Date.now() + timeoutMs;
      const outcome = new Map<string, string>();
      const reasons = new Map<string, string>();
      while (Date.now() < deadline && outcome.size < lanes.length) {
        await Promise.all(
          lanes.map(async (l) => {
            if (outcome.has(l.ns)) return;
            const w = await weight(l.ns);
            if (w > 0 && !firstTraffic.has(l.ns)) firstTraffic.set(l.ns, Date.now());
            if (w === 0 && firstTraffic.has(l.ns) && !back.has(l.ns)) back.set(l.ns, Date.now());
            const r = await get(l.ns);
            // Only a status about this release counts (the previous one may still show).
            if (r.status?.currentRevision !== revision) return;
            if (r.status.phase === "Degraded" && r.status.rolledBackRevision === revision) {
              outcome.set(l.ns, "rolled back");
              reasons.set(l.ns, r.status.conditions?.find((c) => c.type === "Ready")?.reason ?? "?");
            }
            else if (r.status.phase === "Healthy" && r.status.stableRevision === revision) outcome.set(l.ns, "promoted");
          }),
        );
        await sleep(100);
      }
      return lanes.map((l) => ({
        ...l,
        outcome: outcome.get(l.ns) ?? "undecided",
        reason: reasons.get(l.ns),
        seconds: firstTraffic.has(l.ns) && back.has(l.ns) ? ((back.get(l.ns) as number) - (firstTraffic.get(l.ns) as number)) / 1000 : Number.NaN,
      }));
    };

    process.stderr.write("10× canary in every lane…\n");
    const bad = await phase("2", 0.05, 600_000);
    // Back to a healthy baseline: retrying is not needed, a new template starts a new canary.
    process.stderr.write("good canary in every lane…\n");
    const good = await phase("3", 0.005, 600_000);

    const lines: string[] = [];
    lines.push(
      "| policy | 10× canary: rolled back | why | first traffic → weight 0, median (s) | min – max (s) | good canary: promoted | rolled back |",
    );
    lines.push("|---|---|---|---|---|---|---|");
    for (const policy of Object.keys(policies)) {
      const b = bad.filter((x) => x.policy === policy);
      const g = good.filter((x) => x.policy === policy);
      const secs = b.filter((x) => x.outcome === "rolled back" && Number.isFinite(x.seconds)).map((x) => x.seconds).sort((x, y) => x - y);
      const why = new Map<string, number>();
      for (const x of b) if (x.reason) why.set(x.reason, (why.get(x.reason) ?? 0) + 1);
      const whyText = [...why].map(([reason, n]) => `${reason} ×${n}`).join(", ") || "-";
      lines.push(
        `| ${policy} | ${b.filter((x) => x.outcome === "rolled back").length}/${b.length} | ${whyText} | ${secs.length ? quantile(secs, 0.5).toFixed(1) : "-"} | ${secs.length ? `${secs[0]?.toFixed(1)} – ${secs.at(-1)?.toFixed(1)}` : "-"} | ${g.filter((x) => x.outcome === "promoted").length}/${g.length} | ${g.filter((x) => x.outcome === "rolled back").length}/${g.length} |`,
      );
      process.stderr.write(`${policy}: bad ${JSON.stringify(b.map((x) => [x.outcome, x.reason, x.seconds]))} mean ${mean(secs).toFixed(1)}\n`);
    }
    const table = lines.join("\n");
    process.stdout.write(`${table}\n`);
    const body = `## End to end (local cluster)\n\nMeasured with \`make bench-e2e\` (${((Date.now() - started) / 1000).toFixed(0)} s): local control plane, Prometheus ${cluster.versions.prometheus} scraping every 1 s, \`fledge sim\` at 100 req/s per Ingress (stable 0.5 % errors), canary at weight 10 % then a 2-minute pause, ${RUNS} runs per policy in parallel namespaces. The sequential policy is mixture SPRT (α 0.01, β 0.05, 1 s interval, maxStepDuration 2m, so a never-rejected canary passes the 2-minute pause like the threshold one does); the threshold policy is Argo-style (error ratio > 1 % per 1-minute check, failureLimit 3).\n\n${table}\n`;
    process.stdout.write(`written to ${writeSection("bench-e2e", body)}\n`);
  } finally {
    operator?.kill("SIGTERM");
    for (const stop of stops) await stop().catch(() => undefined);
    await stopCluster(dir);
  }
}

main().catch((err) => {
  process.stderr.write(`bench-e2e failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
