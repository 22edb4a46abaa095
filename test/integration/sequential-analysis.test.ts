// The sequential judge on the real cluster, real Prometheus (1 s scrapes) and fledge sim:
// a 10× canary is rolled back by the statistics within seconds, a good canary is promoted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  sequentialTestPolicy,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig } from "./harness.js";

const policy = sequentialTestPolicy;

describe("sequential analysis on the cluster", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let ro: ReturnType<typeof rolloutClient>;
  const steps = [{ setWeight: 10 }, { pause: { duration: "5s" } }, { setWeight: 30 }, { pause: { duration: "5s" } }];
  const template = (tag: string, errorRate: number) =>
    testApp("shop", { image: `example.invalid/app:${tag}`, errorRate }).rollout.spec.template;

  beforeAll(async () => {
    ns = await createNamespace(kc, "sequential");
    ro = rolloutClient(kc, ns);
    await apply(ns, policy);
    operator = await startOperatorProcess("sequential", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns, 100);
    const app = testApp("shop", { image: "example.invalid/app:1", errorRate: 0.005, policy: "sequential", steps });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("shop", "Ready", (x) => condition(x, "Ready")?.status === "True");
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("rolls a 10× canary (5 % vs 0.5 %) back, explaining the statistic", async () => {
    await ro.patchSpec("shop", { template: template("bad", 0.05) });
    const started = await ro.waitFor("shop", "canary traffic", (x) => (x.status?.canaryWeight ?? 0) > 0);
    expect(started.status?.canaryWeight).toBe(10);
    const r = await ro.waitFor("shop", "rolled back", (x) => x.status?.phase === "Degraded", 120_000);
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    expect(condition(r, "AnalysisHealthy")?.reason).toBe("CanaryWorseThanStable");
    // "canary 9.8× stable's error rate …", or "canary 10.71 % errors, stable none" when stable had no error yet.
    expect(condition(r, "AnalysisHealthy")?.message).toMatch(
      /^error-rate: .*canary ([\d.]+× stable's error rate|[\d.]+ % errors, stable none).* of the way to the rollback boundary/,
    );
    expect(r.status?.analysis?.checks[0]?.canary?.errors).toBeGreaterThan(0);
    expect(r.status?.analysis?.decidedBy).toBe("error-rate");
    expect(await ro.weight("shop")).toBe(0);
  });

  it("promotes a good canary (0.5 % like stable) through both weights", async () => {
    await ro.patchSpec("shop", { template: template("good", 0.005) });
    const r = await ro.waitFor("shop", "promoted", isPromoted, 150_000);
    expect(condition(r, "Ready")?.status).toBe("True");
    const events = await ro.eventsWith("shop", "Promoted");
    expect(events.filter((e) => e === "Promoted")).toHaveLength(1);
  });
});
