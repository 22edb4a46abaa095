import { describe, expect, it } from "vitest";
import type { RolloutStatus } from "../../src/api/types.js";
import {
  canaryReplicasFor,
  type Decision,
  decide,
  type ObservedState,
  type RolloutView,
  wantsSample,
} from "../../src/controller/state-machine.js";
import { at, canaryRollout, counters, deployment, observed, ROUTED, reading, rollout, settings } from "./fixtures.js";

const kinds = (d: Decision) => d.actions.map((a) => a.kind);
const reasons = (d: Decision) => d.events.map((e) => e.reason);
const cond = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);

/** Actions of one kind (one annotation value) are alternatives: a decision carries one of each. */
const duplicateActions = (d: Decision) => {
  const keys = d.actions.map((a) => (a.kind === "clearActionAnnotation" ? `${a.kind}/${a.value}` : a.kind));
  return keys.filter((k, i) => keys.indexOf(k) !== i);
};

/** Runs the state machine the way the cluster would: apply the decision's weight/scale to the observation. */
function step(view: RolloutView, obs: ObservedState, seconds: number): { view: RolloutView; obs: ObservedState; d: Decision } {
  const d = decide(view, obs, at(seconds));
  // Every decision of every scenario that steps: never two of one kind, whose order would matter.
  expect(duplicateActions(d)).toEqual([]);
  const next: ObservedState = { ...obs };
  delete next.sample;
  delete next.action;
  for (const a of d.actions) {
    if (a.kind === "setWeight") next.canaryWeight = a.weight;
    if (a.kind === "ensureCanary")
      next.canary = deployment(a.template === "desired" ? view.revision : (next.canary?.revision ?? view.revision), a.replicas);
    if (a.kind === "ensureStable" && a.template === "desired") next.stable = deployment(view.revision, a.replicas);
  }
  return { view: { ...view, status: d.status }, obs: next, d };
}

describe("first apply", () => {
  it("deploys the template as stable and creates the canary Ingress at weight 0", () => {
    const d = decide(rollout(), { route: ROUTED }, at(0));
    expect(d.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
    expect(d.actions).toContainEqual({ kind: "setWeight", weight: 0 });
    expect(d.status.phase).toBe("Initializing");
  });

  it("becomes Healthy and Ready once stable is Available, with an Event", () => {
    const d = decide(rollout({ phase: "Initializing" }), observed({ stable: deployment("rev2", 4) }), at(1));
    expect(d.status.phase).toBe("Healthy");
    expect(d.status.stableRevision).toBe("rev2");
    expect(cond(d, "Ready")?.status).toBe("True");
    expect(reasons(d)).toEqual(["StableDeployed"]);
  });

  it("an idle Healthy rollout decides the same status again and records nothing", () => {
    const first = decide(rollout({ phase: "Initializing" }), observed({ stable: deployment("rev2", 4) }), at(1));
    const again = decide(rollout(first.status), observed({ stable: deployment("rev2", 4) }), at(500));
    expect(again.status).toEqual(first.status);
    expect(again.events).toEqual([]);
    expect(again.requeueAfterMs).toBeUndefined();
  });
});

describe("one decision, one move per kind", () => {
  it("a rollback at a weight scales nothing up: weight 0, the canary keeps its pods to drain, stable kept", () => {
    const view = canaryRollout({ currentStep: 2 });
    const d = decide(
      view,
      observed({ canary: deployment("rev2", 2), canaryWeight: 50, action: { kind: "abort", value: "abort/1" } }),
      at(5),
    );
    expect(duplicateActions(d)).toEqual([]);
    expect(kinds(d)).not.toContain("ensureCanary");
    expect(d.actions).toContainEqual({ kind: "setWeight", weight: 0 });
  });

  it("a promotion updates stable's template once, not 'keep' and then 'desired'", () => {
    const view = canaryRollout({ currentStep: 1 });
    const d = decide(
      view,
      observed({ canary: deployment("rev2", 1), canaryWeight: 20, action: { kind: "promote-full", value: "promote-full/1" } }),
      at(5),
    );
    expect(d.status.phase).toBe("Promoting");
    expect(d.actions.filter((a) => a.kind === "ensureStable")).toEqual([{ kind: "ensureStable", template: "desired", replicas: 4 }]);
  });
});

describe("after a promotion, while the gateway catches up with the weight write", () => {
  const promoted = () => rollout({ stableRevision: "rev1", canaryRevision: "rev2", currentStep: 3, phase: "Promoting" });
  const stableRev2 = { stable: deployment("rev2", 4), canaryWeight: 0 };

  it("is Healthy but not Ready: the accepted generation still routes, and nothing reads it as a rollback", () => {
    const pending = {
      ...ROUTED,
      accepted: false,
      acknowledging: true,
      reason: "RoutePending",
      message: "parent gw has not reported Accepted for generation 6 yet",
    };
    const d = decide(promoted(), observed({ ...stableRev2, route: pending }), at(1));
    expect(d.status.phase).toBe("Healthy");
    expect(cond(d, "Ready")).toMatchObject({ status: "False", reason: "RoutePending" });
    expect(reasons(d)).toEqual(["Promoted"]);
    const acknowledged = decide(rollout(d.status), observed({ ...stableRev2, route: { ...ROUTED, accepted: true } }), at(2));
    expect(cond(acknowledged, "Ready")?.status).toBe("True");
    expect(acknowledged.events).toEqual([]);
  });

  it("is Degraded when the gateway refuses the route", () => {
    const refused = { ...ROUTED, accepted: false, acknowledging: false, reason: "NotAllowedByListeners", message: "refused" };
    const d = decide(promoted(), observed({ ...stableRev2, route: refused }), at(1));
    expect(d.status.phase).toBe("Degraded");
    expect(cond(d, "Ready")?.reason).toBe("TrafficNotRouted");
  });
});

describe("a stable Deployment that disappeared", () => {
  it("is not replaced by the new template on its own; promote --full is the explicit way", () => {
    const view = rollout({ stableRevision: "rev1", canaryRevision: "rev2", currentStep: 1, phase: "Progressing" });
    const held = decide(view, { route: ROUTED, canaryWeight: 10 }, at(5));
    expect(held.status.phase).toBe("Degraded");
    expect(held.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureStable" }));
    expect(held.status.message).toMatch(/promote --full/);
    const forced = decide(view, { route: ROUTED, canaryWeight: 10, action: { kind: "promote-full", value: "promote-full/1" } }, at(6));
    expect(forced.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
    expect(forced.actions).toContainEqual({ kind: "clearActionAnnotation", value: "promote-full/1" });
  });
});

describe("canary without analysis", () => {
  it("walks the steps in order and is promoted after the indefinite pause is promoted", () => {
    let view = rollout({ stableRevision: "rev1", phase: "Healthy" });
    let obs = observed();
    const weights: number[] = [];
    let t = 0;
    let r = step(view, obs, t);
    expect(reasons(r.d)).toContain("CanaryStarted");
    for (let i = 0; i < 30 && r.view.status.phase !== "Paused"; i++) {
      ({ view, obs } = r);
      t += 5;
      r = step(view, obs, t);
      if (r.obs.canaryWeight !== undefined && weights.at(-1) !== r.obs.canaryWeight) weights.push(r.obs.canaryWeight);
    }
    expect(weights).toEqual([10, 50]);
    expect(r.view.status.phase).toBe("Paused");
    expect(cond(r.d, "Paused")?.reason).toBe("PausedByStep");
    // Nothing moves while paused, however long it waits.
    const still = step(r.view, r.obs, t + 10_000);
    expect(still.view.status.currentStep).toBe(r.view.status.currentStep);
    // promote ends the pause; then promotion updates stable.
    r = step(r.view, { ...r.obs, action: { kind: "promote", value: "promote/1" } }, t + 1);
    expect(r.d.actions).toContainEqual({ kind: "clearActionAnnotation", value: "promote/1" });
    r = step(r.view, r.obs, t + 2);
    expect(r.view.status.phase).toBe("Promoting");
    expect(r.d.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
    r = step(r.view, r.obs, t + 3);
    expect(r.view.status.phase).toBe("Healthy");
    expect(r.view.status.stableRevision).toBe("rev2");
    expect(reasons(r.d)).toContain("Promoted");
    // Weight 0 now; the canary's pods stay while the proxy applies it (scaleDownDelaySeconds).
    expect(r.d.actions).toContainEqual({ kind: "setWeight", weight: 0 });
    expect(r.d.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureCanary" }));
    expect(r.d.requeueAfterMs).toBe(10_000);
    r = step(r.view, r.obs, t + 12);
    expect(r.d.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureCanary" }));
    r = step(r.view, r.obs, t + 13);
    expect(r.d.actions).toContainEqual({ kind: "ensureCanary", template: "keep", replicas: 0 });
    r = step(r.view, r.obs, t + 14);
    expect(r.view.status.canaryDrainingSince).toBeUndefined();
  });

  it("keeps the canary's pods for scaleDownDelaySeconds after its weight went to 0, and none without traffic", () => {
    const view = rollout({ stableRevision: "rev1", canaryRevision: "rev2", currentStep: 1, phase: "Progressing" });
    view.spec.strategy.canary.scaleDownDelaySeconds = 30;
    const abort = { kind: "abort" as const, value: "abort/1" };
    const aborted = decide(view, observed({ canary: deployment("rev2", 1), canaryWeight: 10, action: abort }), at(5));
    expect(aborted.actions).toContainEqual({ kind: "setWeight", weight: 0 });
    expect(aborted.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureCanary" }));
    expect(aborted.status.canaryDrainingSince).toBe(at(5).toISOString());
    const early = decide(rollout(aborted.status, view.spec), observed({ canary: deployment("rev2", 1), canaryWeight: 0 }), at(34));
    expect(early.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureCanary" }));
    expect(early.requeueAfterMs).toBe(1000);
    const late = decide(rollout(aborted.status, view.spec), observed({ canary: deployment("rev2", 1), canaryWeight: 0 }), at(35));
    expect(late.actions).toContainEqual({ kind: "ensureCanary", template: "keep", replicas: 0 });
    // Never routed (weight 0 all along): nothing to wait for.
    const never = decide(view, observed({ canary: deployment("rev2", 1), canaryWeight: 0, action: abort }), at(5));
    expect(never.actions).toContainEqual({ kind: "ensureCanary", template: "keep", replicas: 0 });
  });

  it("waits for the canary to be Available before setting any weight", () => {
    let r = step(rollout({ stableRevision: "rev1" }), observed(), 0);
    r = step(r.view, { ...r.obs, canary: deployment("rev2", 1, false) }, 1);
    expect(r.d.actions.filter((a) => a.kind === "setWeight")).toEqual([]);
    expect(r.d.status.message).toMatch(/canary pod/);
  });

  it("scales the canary with its weight before shifting traffic, at least one pod", () => {
    expect(canaryReplicasFor(4, 0)).toBe(1);
    expect(canaryReplicasFor(4, 10)).toBe(1);
    expect(canaryReplicasFor(4, 50)).toBe(2);
    expect(canaryReplicasFor(10, 100)).toBe(10);
  });

  it("rolls back when the canary never becomes Available within the deadline, weight never above 0", () => {
    let r = step(rollout({ stableRevision: "rev1" }), observed(), 0);
    r = step(r.view, { ...r.obs, canary: deployment("rev2", 1, false) }, 60);
    r = step(r.view, { ...r.obs, canary: deployment("rev2", 1, false) }, 121);
    expect(r.view.status.phase).toBe("Degraded");
    expect(cond(r.d, "Ready")?.reason).toBe("ProgressDeadlineExceeded");
    // The Event says RolledBack; the notice, a typed transition, says why.
    expect(reasons(r.d)).toEqual(["RolledBack"]);
    expect(r.d.transitions).toEqual([{ kind: "DeadlineExceeded", revision: "rev2", message: expect.stringMatching(/rolled back/) }]);
    expect(r.obs.canaryWeight).toBe(0);
    expect(r.d.actions).toContainEqual({ kind: "ensureCanary", template: "keep", replicas: 0 });
  });

  it("reads the weight back: a weight that drifted during a pause is put back", () => {
    const view = rollout({
      stableRevision: "rev1",
      canaryRevision: "rev2",
      currentStep: 1,
      stepStartedAt: at(0).toISOString(),
      lastProgressAt: at(0).toISOString(),
    });
    const d = decide(view, observed({ canary: deployment("rev2", 1), canaryWeight: 0 }), at(5));
    expect(d.actions).toContainEqual({ kind: "setWeight", weight: 10 });
    expect(d.status.currentStep).toBe(1);
  });

  it("a pause does not count toward the deadline", () => {
    const view = rollout({
      stableRevision: "rev1",
      canaryRevision: "rev2",
      currentStep: 3,
      stepStartedAt: at(0).toISOString(),
      lastProgressAt: at(0).toISOString(),
    });
    const d = decide(view, observed({ canary: deployment("rev2", 2), canaryWeight: 50 }), at(5000));
    expect(d.status.phase).toBe("Paused");
  });
});

describe("user actions", () => {
  const running = () =>
    rollout({
      stableRevision: "rev1",
      canaryRevision: "rev2",
      currentStep: 1,
      stepStartedAt: at(0).toISOString(),
      lastProgressAt: at(0).toISOString(),
    });

  it("abort rolls back with reason Aborted; stable is untouched", () => {
    const d = decide(
      running(),
      observed({ canary: deployment("rev2", 1), canaryWeight: 10, action: { kind: "abort", value: "abort" } }),
      at(5),
    );
    expect(d.status.phase).toBe("Degraded");
    expect(cond(d, "Ready")?.reason).toBe("Aborted");
    expect(d.status.rolledBackRevision).toBe("rev2");
    expect(d.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureStable", template: "desired" }));
    expect(d.actions).toContainEqual({ kind: "setWeight", weight: 0 });
    expect(d.actions).not.toContainEqual(expect.objectContaining({ kind: "ensureCanary" }));
  });

  it("a rolled-back revision stays rolled back until retry, which runs it again", () => {
    const rolledBack: RolloutStatus = { stableRevision: "rev1", rolledBackRevision: "rev2", phase: "Degraded" };
    const idle = decide(rollout(rolledBack), observed({ canary: deployment("rev2", 0) }), at(100));
    expect(idle.status.canaryRevision).toBeUndefined();
    expect(idle.status.phase).toBe("Degraded");
    const retried = decide(
      rollout(rolledBack),
      observed({ canary: deployment("rev2", 0), action: { kind: "retry", value: "retry/a" } }),
      at(101),
    );
    expect(retried.status.canaryRevision).toBe("rev2");
    expect(retried.status.rolledBackRevision).toBeUndefined();
    expect(reasons(retried)).toEqual(["RetryRequested", "CanaryStarted"]);
  });

  it("an action already applied before a crash is only removed, not applied again", () => {
    const view = running();
    view.status.handledAction = "promote/x";
    const d = decide(
      view,
      observed({ canary: deployment("rev2", 1), canaryWeight: 10, action: { kind: "promote", value: "promote/x" } }),
      at(5),
    );
    expect(d.status.currentStep).toBe(1);
    expect(d.actions).toContainEqual({ kind: "clearActionAnnotation", value: "promote/x" });
  });

  it("promote-full skips the remaining steps and promotes", () => {
    const d = decide(
      running(),
      observed({ canary: deployment("rev2", 1), canaryWeight: 10, action: { kind: "promote-full", value: "promote-full" } }),
      at(5),
    );
    expect(d.status.phase).toBe("Promoting");
    expect(d.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
  });

  it("an unknown action is refused with a Warning and removed", () => {
    const d = decide(running(), observed({ canary: deployment("rev2", 1), canaryWeight: 10, invalidAction: "yolo" }), at(5));
    expect(d.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "InvalidAction" }));
    expect(d.actions).toContainEqual({ kind: "clearActionAnnotation", value: "yolo" });
  });
});

describe("a newer template during a canary", () => {
  it("abandons the old canary (weight 0 first) and starts over", () => {
    const view = rollout({ stableRevision: "rev1", canaryRevision: "rev2", currentStep: 2, phase: "Progressing" }, {}, "rev3");
    const d = decide(view, observed({ canary: deployment("rev2", 2), canaryWeight: 50 }), at(5));
    expect(reasons(d)).toEqual(["CanarySuperseded", "CanaryStarted"]);
    expect(d.status.canaryRevision).toBe("rev3");
    expect(d.status.currentStep).toBe(0);
    expect(kinds(d).indexOf("setWeight")).toBeLessThan(kinds(d).indexOf("ensureCanary"));
  });
});

describe("analysis", () => {
  const withPolicy = { analysis: { policy: "p" } };
  const analysing = (extra: RolloutStatus = {}) => canaryRollout(extra, withPolicy);
  const obs = (extra: Partial<ObservedState> = {}) =>
    observed({ canary: deployment("rev2", 1), canaryWeight: 10, policy: { found: true, settings: settings() }, ...extra });

  it("wants a sample only when weight > 0 and the interval has passed", () => {
    expect(wantsSample(analysing(), obs(), at(1))).toBe(true);
    expect(wantsSample(analysing(), obs({ canaryWeight: 0 }), at(1))).toBe(false);
  });

  it("rolls back when the canary's error rate is over the limit", () => {
    let d = decide(analysing(), obs({ sample: { at: at(1).toISOString(), ok: true, readings: reading(counters(0, 0)) } }), at(1));
    expect(d.analysisOutcome?.kind).toBe("baseline");
    d = decide(
      { ...analysing(), status: d.status },
      obs({ sample: { at: at(11).toISOString(), ok: true, readings: reading(counters(100, 12)) } }),
      at(11),
    );
    expect(d.status.phase).toBe("Degraded");
    expect(cond(d, "Ready")?.reason).toBe("AnalysisFailed");
    expect(cond(d, "Ready")?.message).toMatch(/12\.00 %/);
    expect(d.events.map((e) => e.reason)).toEqual(["AnalysisFailed", "RolledBack"]);
  });

  it("does not leave a timed pause, nor promote, without a passing interval (no data is never a pass)", () => {
    const view = analysing({ currentStep: 1, stepStartedAt: at(0).toISOString() });
    const d = decide(view, obs(), at(3600));
    expect(d.status.currentStep).toBe(1);
    expect(d.status.message).toMatch(/waiting for a passing analysis interval/);
  });

  it("a pass followed by a Prometheus error holds the step: the latest reading must pass", () => {
    let view = analysing({ currentStep: 1 });
    const s = (t: number, c: ReturnType<typeof counters> | undefined) =>
      obs({
        sample: c
          ? { at: at(t).toISOString(), ok: true, readings: reading(c) }
          : { at: at(t).toISOString(), ok: false, error: "Prometheus is unreachable" },
      });
    let d = decide(view, s(0, counters(0, 0)), at(0));
    view = { ...view, status: d.status };
    d = decide(view, s(10, counters(100, 0)), at(10));
    expect(d.status.analysis?.passesAtWeight).toBe(1);
    view = { ...view, status: d.status };
    d = decide(view, s(40, undefined), at(40));
    expect(d.status.currentStep).toBe(1);
    expect(d.status.message).toMatch(/waiting for a passing analysis interval/);
    view = { ...view, status: d.status };
    d = decide(view, s(50, counters(200, 0)), at(50));
    expect(d.status.currentStep).toBe(2);
  });

  it("the no-traffic clock starts when the canary gets its weight, not before (a long manual pause at 0 % is not silence)", () => {
    const s = settings({ noTrafficTimeoutMs: 30_000 });
    const old = analysing({
      analysis: {
        revision: "rev2",
        startedAt: at(0).toISOString(),
        weightJudged: 0,
        lastSampleAt: at(0).toISOString(),
        checks: [
          {
            name: "error-rate",
            kind: "ratio",
            canary: { requests: 0, errors: 0 },
            stable: { requests: 0, errors: 0 },
            lastCounters: counters(0, 0),
          },
        ],
      },
    });
    const d = decide(
      old,
      obs({ policy: { found: true, settings: s }, sample: { at: at(3600).toISOString(), ok: true, readings: reading(counters(0, 0)) } }),
      at(3600),
    );
    expect(d.status.phase).not.toBe("Degraded");
    expect(d.analysisOutcome?.kind).toBe("inconclusive");
  });

  it("stops after too many Prometheus errors in a row, and never promotes meanwhile", () => {
    let view = analysing();
    let d: Decision | undefined;
    for (let i = 1; i <= 3; i++) {
      d = decide(view, obs({ sample: { at: at(i * 10).toISOString(), ok: false, error: "connection refused" } }), at(i * 10));
      view = { ...view, status: d.status };
      if (i < 3) expect(cond(d, "AnalysisHealthy")?.reason).toBe("QueryFailed");
    }
    expect(d?.status.phase).toBe("Degraded");
    expect(cond(d as Decision, "Ready")?.reason).toBe("PrometheusUnavailable");
  });

  it("a missing policy holds the canary with a clear condition instead of failing it", () => {
    const d = decide(
      analysing(),
      obs({ policy: { found: false, reason: "PolicyNotFound", problem: "AnalysisPolicy p not found" } }),
      at(1000),
    );
    expect(d.status.phase).toBe("Progressing");
    expect(cond(d, "AnalysisHealthy")?.reason).toBe("PolicyNotFound");
    expect(d.status.rolledBackRevision).toBeUndefined();
  });

  it("no traffic past the policy's timeout takes the policy's action (Pause), not a pass", () => {
    const s = settings({ noTrafficTimeoutMs: 30_000, noTrafficAction: "Pause" });
    let view = analysing();
    let d = decide(
      view,
      obs({ policy: { found: true, settings: s }, sample: { at: at(0).toISOString(), ok: true, readings: reading(counters(0, 0)) } }),
      at(0),
    );
    for (let t = 10; t <= 40; t += 10) {
      view = { ...view, status: d.status };
      d = decide(
        view,
        obs({ policy: { found: true, settings: s }, sample: { at: at(t).toISOString(), ok: true, readings: reading(counters(0, 0)) } }),
        at(t),
      );
    }
    expect(d.status.phase).toBe("Paused");
    expect(cond(d, "Paused")?.reason).toBe("NoTraffic");
    expect(d.status.rolledBackRevision).toBeUndefined();
  });
});

describe("approval steps", () => {
  const steps = [{ setWeight: 20 }, { approval: { approvers: ["U1"], timeout: "10m", onTimeout: "Abort" as const } }, { setWeight: 50 }];
  const atGate = (extra: RolloutStatus = {}) => canaryRollout(extra, { strategy: { canary: { steps } } });
  const obs = (extra: Partial<ObservedState> = {}) =>
    observed({ canary: deployment("rev2", 1), canaryWeight: 20, entropy: "t0k3n", ...extra });

  it("opens a gate once, with a token, an Event and an ApprovalPending condition; waiting costs no writes", () => {
    const d = decide(atGate(), obs(), at(1));
    expect(d.status.approval).toMatchObject({ revision: "rev2", step: 1, token: "t0k3n" });
    expect(reasons(d)).toEqual(["ApprovalRequested"]);
    expect(d.status.phase).toBe("Paused");
    expect(cond(d, "ApprovalPending")?.reason).toBe("WaitingForApproval");
    const again = decide({ ...atGate(), status: d.status }, obs({ entropy: "other" }), at(60));
    expect(again.status).toEqual(d.status);
    expect(again.events).toEqual([]);
  });

  it("approve goes to the next step and records who; reject rolls back naming who", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const approved = decide({ ...atGate(), status: open }, obs({ action: { kind: "approve", value: "approve/alice/k1" } }), at(5));
    expect(approved.status.currentStep).toBe(2);
    expect(approved.status.approval).toMatchObject({ decision: "Approved", decidedBy: "alice" });
    expect(cond(approved, "ApprovalPending")).toBeUndefined();
    const rejected = decide({ ...atGate(), status: open }, obs({ action: { kind: "reject", value: "reject/bob/k2" } }), at(5));
    expect(rejected.status.phase).toBe("Degraded");
    expect(cond(rejected, "Ready")?.reason).toBe("Rejected");
    expect(cond(rejected, "Ready")?.message).toMatch(/rejected by bob/);
  });

  it("promote does not pass an approval gate", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const d = decide({ ...atGate(), status: open }, obs({ action: { kind: "promote", value: "promote/1" } }), at(5));
    expect(d.status.currentStep).toBe(1);
    expect(d.events).toContainEqual(expect.objectContaining({ reason: "ActionIgnored" }));
  });

  it("times out: Abort rolls back; Pause holds until promote", () => {
    const open = decide(atGate(), obs(), at(0)).status;
    const aborted = decide({ ...atGate(), status: open }, obs(), at(601));
    expect(cond(aborted, "Ready")?.reason).toBe("ApprovalTimedOut");
    expect(aborted.status.phase).toBe("Degraded");
    const pauseSteps = [{ setWeight: 20 }, { approval: { timeout: "10m", onTimeout: "Pause" as const } }, { setWeight: 50 }];
    const view = rollout({ ...atGate().status }, { strategy: { canary: { steps: pauseSteps } } });
    const opened = decide(view, obs(), at(0)).status;
    const held = decide({ ...view, status: opened }, obs(), at(601));
    expect(held.status.phase).toBe("Paused");
    expect(cond(held, "ApprovalPending")?.reason).toBe("ApprovalTimedOut");
    const promoted = decide({ ...view, status: held.status }, obs({ action: { kind: "promote", value: "promote/x" } }), at(700));
    expect(promoted.status.currentStep).toBe(2);
  });

  it("a decision the Slack endpoint wrote into status: Approved advances with an Event, Rejected rolls back naming who", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const decided = (decision: "Approved" | "Rejected") =>
      ({
        ...open,
        approval: { ...open.approval, decision, decidedBy: "alice (U1) in Slack", decidedAt: at(3).toISOString() },
      }) as RolloutStatus;
    const approved = decide({ ...atGate(), status: decided("Approved") }, obs(), at(4));
    expect(approved.status.currentStep).toBe(2);
    expect(reasons(approved)).toEqual(["Approved", "StepCompleted"]);
    const rejected = decide({ ...atGate(), status: decided("Rejected") }, obs(), at(4));
    expect(rejected.status.phase).toBe("Degraded");
    expect(cond(rejected, "Ready")?.message).toMatch(/rejected by alice \(U1\) in Slack/);
    expect(rejected.actions).toContainEqual({ kind: "setWeight", weight: 0 });
  });

  it("a new revision closes a pending gate as Superseded; its message address is kept until the message shows it", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const posted = { ...open, approval: { ...open.approval, slack: { channel: "C1", ts: "1.1" } } } as RolloutStatus;
    const superseded = decide(rollout(posted, { strategy: { canary: { steps } } }, "rev3"), obs(), at(5)).status;
    expect(superseded.approval).toMatchObject({ token: "t0k3n", decision: "Superseded" });
    // The new revision reaches its gate before the old message was updated.
    const v3 = rollout({ ...superseded, currentStep: 1, stepStartedAt: at(6).toISOString() }, { strategy: { canary: { steps } } }, "rev3");
    const next = decide(v3, obs({ canary: deployment("rev3", 1), entropy: "n3w" }), at(7)).status;
    expect(next.approval).toMatchObject({
      token: "n3w",
      previousMessage: { channel: "C1", ts: "1.1", revision: "rev2", step: 1, decision: "Superseded" },
    });
  });

  it("abort while a gate is pending closes it as Aborted: no later click can decide it", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const aborted = decide({ ...atGate(), status: open }, obs({ action: { kind: "abort", value: "abort/1" } }), at(2));
    expect(aborted.status.approval).toMatchObject({ token: "t0k3n", decision: "Aborted" });
  });

  it("a rejected revision retried opens a new gate with a new token", () => {
    const open = decide(atGate(), obs(), at(1)).status;
    const rejected = decide({ ...atGate(), status: open }, obs({ action: { kind: "reject", value: "reject/bob/k2" } }), at(5)).status;
    const retried = decide({ ...atGate(), status: rejected }, obs({ action: { kind: "retry", value: "retry/1" } }), at(7)).status;
    expect(retried.currentStep).toBe(0);
    // Step 1 is reached again later in the retried run.
    const again = decide(
      { ...atGate(), status: { ...retried, currentStep: 1, stepStartedAt: at(8).toISOString() } },
      obs({ entropy: "n3w" }),
      at(9),
    );
    expect(again.status.approval).toMatchObject({ token: "n3w" });
    expect(again.status.approval?.decision).toBeUndefined();
  });
});
