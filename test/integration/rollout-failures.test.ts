// What goes wrong around a canary: no traffic, Prometheus down, pods that never become Ready,
// a missing Ingress or AnalysisPolicy. Never a promotion on missing data; clear conditions.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addScrapeTarget } from "../../src/devcluster/prometheus.js";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  startOwnPrometheus,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("rollout failures", () => {
  const kc = kubeConfig();
  let ns: string;
  let quiet: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  const image = (tag: string) => `example.invalid/app:${tag}`;

  beforeAll(async () => {
    ns = await createNamespace(kc, "failures");
    quiet = await createNamespace(kc, "quiet");
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("failures", [`--watch-namespaces=${ns},${quiet}`]);
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, quiet);
  });

  /** Deploys `name` at v1, waits for Ready, then starts a canary at v2. */
  async function startCanary(namespace: string, name: string, opts: Partial<Parameters<typeof testApp>[1]> = {}) {
    const ro = rolloutClient(kc, namespace);
    const v1 = testApp(name, { image: image("1"), errorRate: 0, ...opts, neverReady: false });
    await apply(namespace, v1.ingress, v1.rollout);
    await ro.waitFor(name, "Ready", (x) => condition(x, "Ready")?.status === "True");
    const v2 = testApp(name, { image: image("2"), errorRate: 0, ...opts });
    await ro.patchSpec(name, { template: v2.rollout.spec.template });
    return ro;
  }

  it("no traffic is inconclusive, never promoted; after the policy's timeout its action (Abort) rolls back", async () => {
    await apply(
      quiet,
      testPolicy("error-rate", { errorRate: { ...testPolicy().spec.errorRate, noTraffic: { timeout: "8s", action: "Abort" } } }),
    );
    const ro = await startCanary(quiet, "idle", { steps: [{ setWeight: 20 }, { pause: { duration: "2s" } }] });
    const inconclusive = await ro.waitFor(
      "idle",
      "an inconclusive analysis",
      (x) => condition(x, "AnalysisHealthy")?.reason === "NoTraffic",
    );
    expect(condition(inconclusive, "AnalysisHealthy")?.status).toBe("Unknown");
    expect(inconclusive.status?.phase).toBe("Progressing");
    const r = await ro.waitFor(
      "idle",
      "rolled back",
      (x) => x.status?.phase === "Degraded" || x.status?.stableRevision === x.status?.currentRevision,
    );
    expect(r.status?.phase).toBe("Degraded");
    expect(condition(r, "Ready")?.reason).toBe("NoTraffic");
    expect(r.status?.stableRevision).not.toBe(r.status?.currentRevision);
  });

  it("Prometheus down mid-analysis: never promoted, a condition says why, and it resumes when Prometheus returns in time", async () => {
    const prometheus = await startOwnPrometheus(mkdtempSync(path.join(tmpdir(), "fledge-prom-")));
    await addScrapeTarget(prometheus.targetsDir, "sim", `127.0.0.1:${sim.port}`);
    try {
      // Errors and silence are tolerated for a minute: longer than Prometheus stays down here.
      await apply(
        ns,
        testPolicy("flaky-prom", {
          prometheus: { address: prometheus.url },
          queryErrors: { limit: 30, action: "Abort" },
          errorRate: { ...testPolicy().spec.errorRate, noTraffic: { timeout: "60s", action: "Abort" } },
        }),
      );
      // A pause long enough that Prometheus is surely down before it ends, however late in it the
      // first passing interval comes (and however long Prometheus takes to shut down).
      const ro = await startCanary(ns, "resume", { policy: "flaky-prom", steps: [{ setWeight: 20 }, { pause: { duration: "30s" } }] });
      const passing = await ro.waitFor("resume", "analysis passing", (x) => condition(x, "AnalysisHealthy")?.status === "True");
      await prometheus.stop();
      const failing = await ro.waitFor(
        "resume",
        "a query-failure condition",
        (x) => condition(x, "AnalysisHealthy")?.reason === "QueryFailed",
      );
      expect(condition(failing, "AnalysisHealthy")?.message).toMatch(/unreachable/);
      // Well past the 30 s pause: still not promoted, because no data is never a pass.
      const pauseEnds = Date.parse(passing.status?.stepStartedAt ?? "") + 30_000;
      await new Promise((res) => setTimeout(res, Math.max(0, pauseEnds - Date.now()) + 5_000));
      const held = await ro.get("resume");
      expect(held.status?.stableRevision).not.toBe(held.status?.currentRevision);
      expect(held.status?.phase).toBe("Progressing");
      const back = await startOwnPrometheus(path.dirname(prometheus.targetsDir), prometheus.port);
      prometheus.stop = back.stop;
      const r = await ro.waitFor("resume", "promoted after Prometheus returned", isPromoted);
      expect(condition(r, "Ready")?.status).toBe("True");
    } finally {
      await prometheus.stop();
    }
  });

  it("Prometheus gone for good: the rollout stops after the bounded number of errors, with a clear condition", async () => {
    await apply(ns, testPolicy("dead-prom", { prometheus: { address: "http://127.0.0.1:9" }, queryErrors: { limit: 3, action: "Abort" } }));
    const ro = await startCanary(ns, "noprom", { policy: "dead-prom" });
    const r = await ro.waitFor("noprom", "stopped", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")?.reason).toBe("PrometheusUnavailable");
    expect(condition(r, "Ready")?.message).toMatch(/3 Prometheus queries in a row failed/);
    expect(await ro.weight("noprom")).toBe(0);
  });

  it("a canary whose pods never become Ready is rolled back at the deadline, weight never above 0", async () => {
    const ro = rolloutClient(kc, ns);
    const weights = new Set<number>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const w = await ro.weight("stuck");
        if (w !== undefined) weights.add(w);
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
    await startCanary(ns, "stuck", { neverReady: true, deadline: 15 });
    const r = await ro.waitFor("stuck", "deadline", (x) => x.status?.phase === "Degraded");
    watching = false;
    await watcher;
    expect(condition(r, "Ready")?.reason).toBe("ProgressDeadlineExceeded");
    expect(condition(r, "Ready")?.message).toMatch(/never became Available/);
    expect([...weights]).toEqual([0]);
  });

  it("a template the API server refuses for a Deployment gives a Reconciled=False condition with its message", async () => {
    const ro = rolloutClient(kc, ns);
    const app = testApp("badport", { image: image("1"), errorRate: 0 });
    const container = app.rollout.spec.template.spec.containers[0] as Record<string, unknown>;
    container.ports = [{ containerPort: 999999 }]; // the CRD keeps pod specs open; the Deployment API does not
    await apply(ns, app.ingress, app.rollout);
    const r = await ro.waitFor("badport", "an ApplyFailed condition", (x) => condition(x, "Reconciled")?.reason === "ApplyFailed");
    expect(condition(r, "Reconciled")?.message).toMatch(/containerPort/);
    expect(condition(r, "Ready")?.status).not.toBe("True");
  });

  it("a missing Ingress or AnalysisPolicy gives a clear condition, and the rollout recovers when it appears", async () => {
    const ro = rolloutClient(kc, ns);
    const app = testApp("late", { image: image("1"), errorRate: 0, policy: "late-policy" });
    await apply(ns, app.rollout);
    const noIngress = await ro.waitFor(
      "late",
      "an IngressNotFound condition",
      (x) => condition(x, "TrafficRouted")?.reason === "IngressNotFound",
    );
    expect(condition(noIngress, "TrafficRouted")?.message).toMatch(/Ingress late not found .* create it with its backend on Service late/);
    await apply(ns, app.ingress);
    await ro.waitFor("late", "Ready once the Ingress exists", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("late", { template: testApp("late", { image: image("2"), errorRate: 0 }).rollout.spec.template });
    const noPolicy = await ro.waitFor(
      "late",
      "a PolicyNotFound condition",
      (x) => condition(x, "AnalysisHealthy")?.reason === "PolicyNotFound",
    );
    expect(condition(noPolicy, "AnalysisHealthy")?.message).toMatch(/AnalysisPolicy late-policy not found/);
    await new Promise((res) => setTimeout(res, 3000));
    expect((await ro.get("late")).status?.phase).toBe("Progressing");
    await apply(ns, testPolicy("late-policy"));
    const r = await ro.waitFor("late", "promoted once the policy exists", isPromoted);
    expect(condition(r, "Ready")?.status).toBe("True");
    await eventually("the canary scaled down", async () => ((await ro.deployment("late-canary")).spec?.replicas === 0 ? true : undefined));
  });
});
