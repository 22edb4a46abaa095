// An idle cluster costs nothing: 200 Healthy Rollouts (each with its Ingress, Deployments,
// Services, canary Ingress) and an operator that resyncs every 5 s write nothing to the API
// server — no status rewrite, no apply, no Event — across several resyncs.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply, isPromoted, type OperatorProcess, rolloutClient, startOperatorProcess, testApp } from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const COUNT = 200;

describe("200 idle Healthy Rollouts", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    ns = await createNamespace(kc, "idle");
    operator = await startOperatorProcess("idle", [`--watch-namespaces=${ns}`, "--resync=5"]);
    const objects = Array.from({ length: COUNT }, (_, i) =>
      testApp(`idle${i}`, { image: "example.invalid/idle:1", errorRate: 0, policy: null, replicas: 1 }),
    );
    for (let i = 0; i < COUNT; i += 50) await apply(ns, ...objects.slice(i, i + 50).flatMap((o) => [o.ingress, o.rollout]));
  });
  afterAll(async () => {
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("write nothing to the API server across several resyncs", async () => {
    const ro = rolloutClient(kc, ns);
    await eventually(
      `${COUNT} Healthy Rollouts`,
      async () => {
        const list = await Promise.all(Array.from({ length: COUNT }, (_, i) => ro.get(`idle${i}`)));
        return list.every(isPromoted) ? true : undefined;
      },
      240_000,
      2000,
    );
    // Settled: the last status writes (and the Ready condition's reports) are behind us.
    await sleep(3000);
    const writes = () => operator.metric("fledge_kube_writes_total");
    const reconciles = () => operator.metric("controller_runtime_reconcile_total");
    const [w0, r0] = [await writes(), await reconciles()];
    await sleep(16_000); // three resyncs
    const [w1, r1] = [await writes(), await reconciles()];
    console.log(`idle: ${r1 - r0} reconciles in 16 s, ${w1 - w0} writes (${w0} writes to get there)`);
    expect(r1 - r0).toBeGreaterThanOrEqual(2 * COUNT); // the resyncs did reconcile every Rollout
    expect(w1 - w0).toBe(0);
  });
});
