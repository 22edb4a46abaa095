// History is never counted as new (issue 11, item 0): a stable arm whose counters Prometheus
// first sees after the analysis began — here a scrape target added late, carrying a burst of
// start-up 503s — must not inflate stable's error rate, or a bad canary looks healthy beside it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addScrapeTarget, removeScrapeTarget } from "../../src/devcluster/prometheus.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningSim, startSim } from "../../src/sim/sim.js";
import { NGINX_COUNTER_QUERIES } from "../../src/traffic/nginx/queries.js";
import { apply, condition, type OperatorProcess, rolloutClient, startOperatorProcess, testApp } from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig, localCluster } from "./harness.js";

describe("a burst of stable errors just before the step", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  const target = () => `late-sim-${sim.port}`;

  beforeAll(async () => {
    ns = await createNamespace(kc, "history");
    operator = await startOperatorProcess("history", [`--watch-namespaces=${ns}`]);
    // A sim Prometheus does not scrape yet: its counters build up history unseen.
    sim = await startSim({ kc, log: createLogger("warn", "sim"), rps: 100, port: 0, namespace: ns, seed: 7 });
  });
  afterAll(async () => {
    await sim?.stop();
    if (sim) await removeScrapeTarget(localCluster().prometheusTargetsDir, target());
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("a 10× canary (5 % vs 0.5 %) is rolled back, with stable's figure its own 0.5 %, not the burst", async () => {
    const ro = rolloutClient(kc, ns);
    await apply(ns, {
      apiVersion: "fledge.dev/v1alpha1",
      kind: "AnalysisPolicy",
      metadata: { name: "sequential" },
      spec: {
        interval: "1s",
        errorRate: {
          ...NGINX_COUNTER_QUERIES,
          judge: { sequential: { alpha: 0.01, beta: 0.05 } },
          minRequests: 20,
          noTraffic: { timeout: "5m", action: "Pause" },
        },
        queryErrors: { limit: 10, action: "Pause" },
      },
    });
    const v1 = testApp("shop", {
      image: "example.invalid/shop:1",
      errorRate: 0.005,
      policy: "sequential",
      steps: [{ setWeight: 20 }, { pause: { duration: "90s" } }],
    });
    // The Ingress first, alone: with no pods behind it every request is a 503 (start-up).
    await apply(ns, v1.ingress);
    await eventually(
      "a burst of 503s on stable",
      async () => ((sim.totals()[`${ns}/shop`]?.errors ?? 0) >= 400 ? true : undefined),
      30_000,
    );
    await apply(ns, v1.rollout);
    await ro.waitFor("shop", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("shop", { template: testApp("shop", { image: "example.invalid/shop:2", errorRate: 0.05 }).rollout.spec.template });
    // The analysis' first reading is taken before Prometheus knows the sim; only then is it scraped.
    await ro.waitFor("shop", "the baseline reading", (x) => x.status?.analysis?.checks?.[0]?.lastCounters !== undefined);
    await addScrapeTarget(localCluster().prometheusTargetsDir, target(), `127.0.0.1:${sim.port}`);
    const r = await ro.waitFor(
      "shop",
      "rolled back",
      (x) => x.status?.phase === "Degraded" || x.status?.stableRevision === x.status?.currentRevision,
      150_000,
    );
    expect(r.status?.phase).toBe("Degraded");
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    const stable = r.status?.analysis?.checks[0]?.stable ?? { requests: 0, errors: 0 };
    expect(stable.requests).toBeGreaterThan(100);
    expect(stable.errors / stable.requests).toBeLessThan(0.02);
  });
});
