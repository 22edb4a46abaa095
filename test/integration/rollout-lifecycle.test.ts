// The canary lifecycle on the real local cluster, with the real Prometheus and fledge sim:
// first apply, a good canary promoted step by step, a bad one rolled back, abort and retry,
// a newer template superseding a canary, and an indefinite pause with promote --full.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("rollout lifecycle", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let ro: ReturnType<typeof rolloutClient>;

  beforeAll(async () => {
    ns = await createNamespace(kc, "lifecycle");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("lifecycle", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  const image = (tag: string) => `example.invalid/app:${tag}`;
  const withTemplate = (name: string, tag: string, errorRate: number) =>
    testApp(name, { image: image(tag), errorRate }).rollout.spec.template;

  it("first apply deploys stable directly, creates the canary Ingress at weight 0 and is Ready", async () => {
    const app = testApp("web", { image: image("1"), errorRate: 0.005 });
    await apply(ns, app.ingress, app.rollout);
    const r = await ro.waitFor("web", "Ready", (x) => condition(x, "Ready")?.status === "True");
    expect(r.status?.phase).toBe("Healthy");
    expect(r.status?.canaryRevision).toBeUndefined();
    expect(await ro.weight("web")).toBe(0);
    const stable = await ro.deployment("web-stable");
    expect(stable.status?.availableReplicas).toBe(2);
    expect(stable.metadata?.ownerReferences?.[0]?.kind).toBe("Rollout");
    const table = await kubectl(["get", "rollouts", "-n", ns, "web"]);
    expect(table.stdout.split("\n")[0]?.split(/\s+/)).toEqual([
      "NAME",
      "READY",
      "PHASE",
      "STEP",
      "WEIGHT",
      "STABLE",
      "CANARY",
      "WORKLOAD",
      "AGE",
    ]);
    expect(table.stdout).toMatch(new RegExp(`web\\s+True\\s+Healthy\\s+0\\s+${r.status?.stableRevision}`));
  });

  it("a good canary goes through each step's weight in order and is promoted", async () => {
    const before = await ro.get("web");
    const seen: number[] = [];
    const watching = (async () => {
      for (let i = 0; i < 600; i++) {
        const r = await ro.get("web");
        const promoted = r.status?.phase === "Healthy" && r.status.stableRevision !== before.status?.stableRevision;
        // Read after the status: a promotion writes weight 0 before it writes Healthy, so the last
        // weight read here is the one the promoted Rollout left (read before, it could be the 50).
        const w = await ro.weight("web");
        if (w !== undefined && seen.at(-1) !== w) seen.push(w);
        if (promoted) return;
        await new Promise((res) => setTimeout(res, 150));
      }
    })();
    await ro.patchSpec("web", { template: withTemplate("web", "2", 0) });
    const r = await ro.waitFor(
      "web",
      "promoted",
      (x) => x.status?.phase === "Healthy" && x.status.stableRevision !== before.status?.stableRevision,
    );
    await watching;
    expect(seen).toEqual([0, 20, 50, 0]);
    expect(r.status?.stableRevision).toBe(r.status?.currentRevision);
    const stable = await ro.deployment("web-stable");
    expect(stable.spec?.template.spec?.containers[0]?.image).toBe(image("2"));
    expect(condition(r, "Ready")?.status).toBe("True");
    // The canary keeps its pods for scaleDownDelaySeconds while the proxy applies weight 0.
    await eventually("the canary scaled to 0", async () => ((await ro.deployment("web-canary")).spec?.replicas === 0 ? true : undefined));
    const events = await ro.eventsWith("web", "Promoted");
    const story = events.filter((e) => ["CanaryStarted", "StepCompleted", "Promoting", "Promoted"].includes(e));
    expect(story).toEqual(["CanaryStarted", "StepCompleted", "StepCompleted", "StepCompleted", "StepCompleted", "Promoting", "Promoted"]);
  });

  it("a bad canary (5 % errors vs 0.5 %) is rolled back: weight 0, canary scaled down, stable unchanged", async () => {
    const stableBefore = (await ro.deployment("web-stable")).spec?.template;
    await ro.patchSpec("web", { template: withTemplate("web", "3", 0.05) });
    const r = await ro.waitFor("web", "rolled back", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    expect(condition(r, "Ready")?.message).toMatch(/canary error rate .* over the 2\.00 % limit/);
    expect(await ro.weight("web")).toBe(0);
    expect((await ro.deployment("web-stable")).spec?.template).toEqual(stableBefore);
    await eventually("the canary scaled to 0", async () => ((await ro.deployment("web-canary")).status?.replicas ?? 0) === 0 || undefined);
    // The sim stops sending traffic to the canary: its counter stops growing.
    await new Promise((res) => setTimeout(res, 1500));
    const before = sim.totals()[`${ns}/web-canary`]?.requests ?? 0;
    await new Promise((res) => setTimeout(res, 2000));
    expect(sim.totals()[`${ns}/web-canary`]?.requests ?? 0).toBe(before);
    expect(await ro.eventsWith("web", "RolledBack")).toContain("RolledBack");
  });

  it("abort during a pause rolls back with reason Aborted; retry runs the same revision again", async () => {
    const app = testApp("shop", { image: image("1"), errorRate: 0, steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }] });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("shop", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("shop", { template: withTemplate("shop", "2", 0) });
    const paused = await ro.waitFor("shop", "paused", (x) => x.status?.phase === "Paused");
    const revision = paused.status?.canaryRevision;
    await ro.action("shop", "abort");
    // The annotation goes in a write of its own after the status that records the abort.
    const aborted = await ro.waitFor(
      "shop",
      "aborted, and the action annotation removed",
      (x) => x.status?.phase === "Degraded" && x.metadata.annotations?.["fledge.dev/action"] === undefined,
    );
    expect(condition(aborted, "Ready")?.reason).toBe("Aborted");
    expect(aborted.status?.rolledBackRevision).toBe(revision);
    expect(await ro.weight("shop")).toBe(0);
    await ro.action("shop", "retry");
    const again = await ro.waitFor(
      "shop",
      "the same revision running again",
      (x) => x.status?.canaryRevision === revision && x.status?.phase === "Paused",
    );
    expect(again.status?.rolledBackRevision).toBeUndefined();
  });

  it("a pause without duration holds until promoted; promote --full finishes safely", async () => {
    // "shop" is paused at step 2 after the retry above.
    await new Promise((res) => setTimeout(res, 3000));
    expect((await ro.get("shop")).status?.phase).toBe("Paused");
    await ro.action("shop", "promote-full");
    const r = await ro.waitFor("shop", "promoted", isPromoted);
    expect((await ro.deployment("shop-stable")).spec?.template.spec?.containers[0]?.image).toBe(image("2"));
    expect(await ro.weight("shop")).toBe(0);
    expect(condition(r, "Ready")?.status).toBe("True");
  });

  it("a newer template during a canary supersedes it and starts over", async () => {
    await ro.patchSpec("shop", { template: withTemplate("shop", "3", 0) });
    const first = await ro.waitFor("shop", "canary paused", (x) => x.status?.phase === "Paused");
    await ro.patchSpec("shop", { template: withTemplate("shop", "4", 0) });
    const second = await ro.waitFor(
      "shop",
      "new canary",
      (x) => x.status?.canaryRevision !== undefined && x.status.canaryRevision !== first.status?.canaryRevision,
    );
    expect(second.status?.canaryRevision).toBe(second.status?.currentRevision);
    expect(await ro.eventsWith("shop", "CanarySuperseded")).toContain("CanarySuperseded");
    await ro.waitFor("shop", "new canary paused", (x) => x.status?.phase === "Paused");
    const canary = await ro.deployment("shop-canary");
    expect(canary.spec?.template.spec?.containers[0]?.image).toBe(image("4"));
  });
});
