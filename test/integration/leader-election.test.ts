// Two operator processes on one Lease: exactly one reconciles; SIGKILL the leader mid-rollout
// and the standby takes over within 20 s (15 s lease + 2 s retry) and finishes the rollout;
// SIGTERM releases the Lease so a standby takes over at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("leader election", () => {
  const kc = kubeConfig();
  let ns: string;
  let sim: RunningSim;
  const operators: OperatorProcess[] = [];
  let ro: ReturnType<typeof rolloutClient>;
  const start = async (label: string) => {
    const op = await startOperatorProcess(label, [`--lease-namespace=${ns}`, "--lease-name=fledge-operator", `--watch-namespaces=${ns}`]);
    operators.push(op);
    return op;
  };
  const leaderOf = async (candidates: OperatorProcess[]) => {
    const flags = await Promise.all(candidates.map((o) => o.metric("fledge_leader").catch(() => -1)));
    return flags.filter((f) => f === 1).length === 1 ? candidates[flags.indexOf(1)] : undefined;
  };

  beforeAll(async () => {
    ns = await createNamespace(kc, "leader");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    for (const o of operators) await o.kill();
    await deleteNamespace(kc, ns);
  });

  it("exactly one of two replicas reconciles; after SIGKILL the other takes over within 20 s and finishes the rollout", async () => {
    const a = await start("leader-a");
    const b = await start("leader-b");
    const leader = await eventually("exactly one leader", () => leaderOf([a, b]), 30_000, 200);
    const standby = leader === a ? b : a;
    const steps = [{ setWeight: 20 }, { pause: { duration: "15s" } }, { setWeight: 50 }, { pause: { duration: "5s" } }];
    const app = testApp("ha", { image: "example.invalid/app:1", errorRate: 0, steps });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("ha", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("ha", { template: testApp("ha", { image: "example.invalid/app:2", errorRate: 0 }).rollout.spec.template });
    await ro.waitFor("ha", "the canary at 20 %", (x) => x.status?.canaryWeight === 20);
    expect(await standby.metric("controller_runtime_reconcile_total")).toBe(0);
    expect(await leader.metric("controller_runtime_reconcile_total")).toBeGreaterThan(0);

    const killedAt = Date.now();
    await leader.kill("SIGKILL");
    await eventually("the standby to lead", async () => ((await standby.metric("fledge_leader")) === 1 ? true : undefined), 30_000, 200);
    const takeoverSeconds = (Date.now() - killedAt) / 1000;
    expect(takeoverSeconds).toBeLessThanOrEqual(20);
    const r = await ro.waitFor("ha", "promoted by the new leader", isPromoted);
    expect(condition(r, "Ready")?.status).toBe("True");
    expect((await ro.eventsWith("ha", "Promoted")).filter((e) => e === "Promoted")).toHaveLength(1);
  });

  it("SIGTERM releases the Lease: a standby takes over without waiting for it to expire", async () => {
    const current = await eventually(
      "the current leader",
      () => leaderOf(operators.filter((o) => o.child.exitCode === null && o.child.signalCode === null)),
      30_000,
      200,
    );
    const next = await start("leader-c");
    await new Promise((res) => setTimeout(res, 3000));
    expect(await next.metric("fledge_leader")).toBe(0);
    const stoppedAt = Date.now();
    await current.kill("SIGTERM");
    await eventually("the new replica to lead", async () => ((await next.metric("fledge_leader")) === 1 ? true : undefined), 30_000, 200);
    // Released, not expired: well under the 15 s lease.
    expect((Date.now() - stoppedAt) / 1000).toBeLessThan(10);
  });
});
