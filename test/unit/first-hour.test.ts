// What a user moving over from Argo Rollouts or Flagger hit in their first hour (issue 11), each
// pinned down at its cause: the state machine, the analysis tick, the actions, the router.
import { describe, expect, it } from "vitest";
import { analysisTick, startAnalysis } from "../../src/analysis/analysis-tick.js";
import type { CounterSample } from "../../src/analysis/counter-check.js";
import type { Rollout, RolloutStatus } from "../../src/api/types.js";
import { type Decision, decide, type ObservedState } from "../../src/controller/state-machine.js";
import { approvalValue, decidedBy, parseUserAction, refusalOf } from "../../src/controller/user-actions.js";
import { NginxIngressRouter } from "../../src/traffic/nginx/router.js";
import { at, canaryRollout, counters, deployment, observed, ROUTED, reading, rollout, settings, spec } from "./fixtures.js";

const cond = (d: Decision, type: string) => d.status.conditions?.find((c) => c.type === type);
const withPolicy = { analysis: { policy: "p" }, strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }] } } };
const atPause = (extra: RolloutStatus = {}) => canaryRollout(extra, withPolicy);
const obs = (extra: Partial<ObservedState> = {}) =>
  observed({ canary: deployment("rev2", 1), canaryWeight: 20, policy: { found: true, settings: settings() }, ...extra });
const sample = (t: number, c: CounterSample) => ({ at: at(t).toISOString(), ok: true as const, readings: reading(c) });

describe("1. promote at pause: {} never skips the analysis gate", () => {
  it("with no passing interval yet, promote is kept and the step ends at the first passing one", () => {
    let d = decide(atPause(), obs({ sample: sample(0, counters(0, 0)) }), at(0)); // baseline
    let view = { ...atPause(), status: d.status };
    // No canary traffic in this interval: inconclusive, not a pass.
    d = decide(view, obs({ sample: sample(10, counters(0, 0, 2000, 10)), action: { kind: "promote", value: "promote/a" } }), at(10));
    expect(d.status.currentStep).toBe(1);
    expect(d.status.lastAction).toMatchObject({ value: "promote/a", outcome: "Waiting" });
    expect(d.status.lastAction?.message).toMatch(/ends at the next passing analysis interval at weight 20 %/);
    expect(d.status.promoteRequested).toEqual({ step: 1, at: at(10).toISOString() });
    expect(d.actions).toContainEqual({ kind: "clearActionAnnotation", value: "promote/a" });
    expect(d.actions).not.toContainEqual({ kind: "setWeight", weight: 50 });
    view = { ...view, status: d.status };
    // A passing interval: now the step ends, without another promote.
    d = decide(view, obs({ sample: sample(20, counters(200, 0, 4000, 20)) }), at(20));
    expect(d.status.currentStep).toBe(2);
    expect(d.status.promoteRequested).toBeUndefined();
  });

  it("promote that resumes an analysis pause (no traffic) does not also end the step", () => {
    const paused = atPause({
      conditions: [{ type: "Paused", status: "True", reason: "NoTraffic", message: "m", lastTransitionTime: at(0).toISOString() }],
    });
    const d = decide(paused, obs({ action: { kind: "promote", value: "promote/b" } }), at(30));
    expect(d.status.currentStep).toBe(1);
    expect(d.events.map((e) => e.reason)).toContain("Resumed");
    expect(d.status.lastAction).toMatchObject({ value: "promote/b", outcome: "Applied" });
  });
});

describe("2. a Rollout no traffic can reach is not Healthy", () => {
  it("a missing Ingress makes phase Degraded, Ready False with the router's own words", () => {
    const missing = { routable: false, reason: "IngressNotFound", message: "Ingress checkout not found in namespace shop; create it" };
    const d = decide(
      rollout({ phase: "Healthy", stableRevision: "rev2" }),
      observed({ stable: deployment("rev2", 4), route: missing }),
      at(1),
    );
    expect(d.status.phase).toBe("Degraded");
    expect(cond(d, "Ready")).toMatchObject({ status: "False", reason: "TrafficNotRouted" });
    expect(cond(d, "TrafficRouted")).toMatchObject({ status: "False", reason: "IngressNotFound", message: missing.message });
    // And back to Healthy once the Ingress is there again.
    const back = decide({ ...rollout(d.status) }, observed({ stable: deployment("rev2", 4), canaryWeight: 0 }), at(2));
    expect(back.status.phase).toBe("Healthy");
    expect(cond(back, "Ready")?.status).toBe("True");
  });
});

describe("5. actions the operator will not act on are refused before anything is written", () => {
  const s = (x: RolloutStatus) => x;
  it("retry on a Healthy Rollout, promote on a rolled-back one, abort with no canary", () => {
    const healthy = s({ phase: "Healthy", currentRevision: "a", stableRevision: "a" });
    const rolledBack = s({ phase: "Degraded", currentRevision: "b", stableRevision: "a", rolledBackRevision: "b" });
    expect(refusalOf("retry", "web", healthy, true)).toMatch(/nothing to retry/);
    expect(refusalOf("abort", "web", healthy, true)).toMatch(/nothing to abort/);
    expect(refusalOf("promote", "web", rolledBack, true)).toMatch(/fledge retry web.*fledge promote --full web/);
    expect(refusalOf("retry", "web", rolledBack, true)).toBeUndefined();
    expect(refusalOf("promote-full", "web", rolledBack, true)).toBeUndefined();
    // A status the operator has not caught up with yet cannot be judged: the operator answers.
    expect(refusalOf("retry", "web", healthy, false)).toBeUndefined();
  });

  it("promote --full promotes a rolled-back canary (as Argo Rollouts does), recorded in lastAction", () => {
    const view = rollout({ phase: "Degraded", stableRevision: "rev1", rolledBackRevision: "rev2" });
    const d = decide(view, observed({ canary: deployment("rev2", 0), action: { kind: "promote-full", value: "promote-full/z" } }), at(5));
    expect(d.status.phase).toBe("Promoting");
    expect(d.status.rolledBackRevision).toBeUndefined();
    expect(d.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
    expect(d.status.lastAction).toMatchObject({ kind: "promote-full", outcome: "Applied" });
  });

  it("an ignored action says why in lastAction; one that must wait says so once", () => {
    const healthy = rollout({ phase: "Healthy", stableRevision: "rev2" });
    const d = decide(healthy, observed({ stable: deployment("rev2", 4), action: { kind: "retry", value: "retry/q" } }), at(1));
    expect(d.status.lastAction).toMatchObject({ value: "retry/q", outcome: "Ignored" });
    // promote while the canary is not Available yet stays in the annotation, and says it waits.
    const starting = rollout({ stableRevision: "rev1", canaryRevision: "rev2", currentStep: 0, stepStartedAt: at(0).toISOString() });
    const w = decide(starting, observed({ canary: deployment("rev2", 1, false), action: { kind: "promote", value: "promote/w" } }), at(1));
    expect(w.status.lastAction).toMatchObject({ value: "promote/w", outcome: "Waiting" });
    expect(w.actions.some((a) => a.kind === "clearActionAnnotation")).toBe(false);
    const again = decide(
      { ...starting, status: w.status },
      observed({ canary: deployment("rev2", 1, false), action: { kind: "promote", value: "promote/w" } }),
      at(9),
    );
    expect(again.status.lastAction).toEqual(w.status.lastAction); // not rewritten every look
  });
});

describe("6. an approver's name is kept exactly", () => {
  it.each(["Zoë Ωmega 日本語", "ops/oncall", "50% sure", "  "])("%j round-trips through the annotation", (who) => {
    const value = approvalValue("approve", who);
    const action = parseUserAction(value);
    expect(action && "kind" in action ? decidedBy(action) : undefined).toBe(who.trim() === "" ? "kubectl" : who);
  });
  it("a name typed by hand with kubectl is taken as written", () => {
    expect(decidedBy({ kind: "approve", value: "approve/Zoë Ωmega" })).toBe("Zoë Ωmega");
    expect(decidedBy({ kind: "approve", value: "approve" })).toBe("kubectl");
  });
});

describe("7. scale subresource", () => {
  it("status.replicas and status.selector describe the stable side", () => {
    const d = decide(
      rollout({ phase: "Healthy", stableRevision: "rev2" }),
      observed({ stable: deployment("rev2", 6), canaryWeight: 0 }),
      at(1),
    );
    expect(d.status.replicas).toBe(6);
    expect(d.status.selector).toBe("fledge.dev/rollout=checkout,fledge.dev/track=stable");
  });
});

describe("8. rough edges", () => {
  it("a broken query is QueryInvalid and stops at once (not PrometheusUnavailable after retries)", () => {
    const a = startAnalysis("rev2", at(0), settings());
    const { outcome } = analysisTick(
      a,
      { at: at(1).toISOString(), ok: false, error: "bad_data: parse error", kind: "invalid" },
      settings(),
    );
    expect(outcome).toMatchObject({ kind: "stop", reason: "QueryInvalid" });
    const down = analysisTick(a, { at: at(1).toISOString(), ok: false, error: "unreachable", kind: "unavailable" }, settings());
    expect(down.outcome).toMatchObject({ kind: "error", reason: "QueryFailed" });
  });

  it("an analysis pause emits its Event once, not every interval, and Ready says why it is paused", () => {
    const s = settings({ noTrafficTimeoutMs: 10_000, noTrafficAction: "Pause" });
    let view = atPause();
    let d = decide(view, obs({ policy: { found: true, settings: s }, sample: sample(0, counters(0, 0)) }), at(0));
    const paused: string[] = [];
    for (let t = 10; t <= 60; t += 10) {
      view = { ...view, status: d.status };
      d = decide(view, obs({ policy: { found: true, settings: s }, sample: sample(t, counters(0, 0, 0, 0)) }), at(t));
      paused.push(...d.events.filter((e) => e.reason === "AnalysisPaused").map((e) => e.message));
    }
    expect(d.status.phase).toBe("Paused");
    expect(paused).toHaveLength(1);
    expect(cond(d, "Ready")?.reason).toBe("NoTraffic");
  });

  it("Prometheus failing: the Warning Event comes once per run of failures", () => {
    let view = atPause();
    let d = decide(view, obs({ sample: sample(0, counters(0, 0)) }), at(0));
    const warnings: string[] = [];
    for (let t = 10; t <= 20; t += 10) {
      view = { ...view, status: d.status };
      d = decide(view, obs({ sample: { at: at(t).toISOString(), ok: false, error: "unreachable", kind: "unavailable" } }), at(t));
      warnings.push(...d.events.filter((e) => e.reason === "AnalysisQueryFailed").map((e) => e.message));
    }
    expect(warnings).toHaveLength(1);
  });
});

describe("0. history is never counted as new", () => {
  it("a series the baseline reading missed starts from its value then, not from 0", () => {
    const s = settings();
    let a = startAnalysis("rev2", at(0), s);
    a = { ...a, weightJudged: 10, weightSince: at(0).toISOString() };
    // The baseline reading came before Prometheus had the stable 503 series (133 errors of start-up).
    a = analysisTick(a, sample(1, { ...counters(0, 0, 1000, 0), stableErrors: {} }), s).analysis;
    const next = analysisTick(
      a,
      {
        at: at(11).toISOString(),
        ok: true,
        readings: reading(
          { ...counters(100, 5, 1900, 0), stableErrors: { "status=503": 133, "status=500": 4 } },
          { stableErrors: { "status=503": 133 } },
        ),
      },
      s,
    );
    // Only the new 500s count; the 503s were history. (Without the baseline: 137 errors.)
    expect(next.analysis.checks[0]?.stable).toEqual({ requests: 900, errors: 4 });
  });
});

describe("3, 4. the NGINX router: one Ingress per Rollout, and a copy that follows the user's Ingress", () => {
  const ro = (name: string, created: string): Rollout => ({
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name, namespace: "shop", uid: `uid-${name}`, creationTimestamp: new Date(created) },
    spec: spec({ traffic: { nginx: { ingress: "shop" } } }),
  });
  const userIngress = (host: string, service = "web") => ({
    metadata: { name: "shop", namespace: "shop", generation: 2 },
    spec: {
      rules: [
        { host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service, port: { number: 80 } } } }] } },
      ],
    },
  });
  const routerWith = (ingresses: Record<string, object>, rollouts: Rollout[]) => {
    const writes: string[] = [];
    const kube = {
      apply: async (o: { metadata?: { name?: string } }) => writes.push(`apply ${o.metadata?.name}`),
      create: async (o: { metadata?: { name?: string } }) => writes.push(`create ${o.metadata?.name}`),
    };
    const router = new NginxIngressRouter(kube as never, { get: (name: string) => ingresses[name] as never }, { naming: () => rollouts });
    return { router, writes };
  };

  it("the second Rollout naming an Ingress is refused, names the owner, and writes nothing", async () => {
    const web = ro("web", "2026-01-01T00:00:00Z");
    const other = ro("other", "2026-01-02T00:00:00Z");
    const { router, writes } = routerWith({ shop: userIngress("a.example") }, [web, other]);
    const seen = router.observe(other);
    expect(seen).toMatchObject({ routable: false, reason: "IngressClaimed" });
    expect(seen.message).toMatch(/already routed by Rollout web/);
    await router.setWeight(other, 20);
    expect(writes).toEqual([]);
    // Its Service is not the Ingress's backend either; the owner itself is served.
    expect(router.observe(web).routable).toBe(true);
  });

  it("an Ingress whose backend is another Service is refused with what to fix", () => {
    const { router } = routerWith({ shop: userIngress("a.example", "cart") }, [ro("checkout", "2026-01-01T00:00:00Z")]);
    expect(router.observe(ro("checkout", "2026-01-01T00:00:00Z"))).toMatchObject({ routable: false, reason: "IngressBackendMismatch" });
  });

  it("a changed host makes the copy stale, and the state machine rewrites it at the same weight", async () => {
    const web = { ...ro("web", "2026-01-01T00:00:00Z"), spec: spec({ traffic: { nginx: { ingress: "shop" } } }) };
    web.metadata.name = "web";
    const { canaryIngressFor } = await import("../../src/traffic/nginx/objects.js");
    const copy = canaryIngressFor(web, userIngress("old.example") as never, 20);
    const { router, writes } = routerWith({ shop: userIngress("new.example"), "shop-canary": copy }, [web]);
    const seen = router.observe(web);
    expect(seen).toMatchObject({ routable: true, stale: true, weight: 20, reason: "CanaryIngressOutOfDate" });
    const d = decide(
      atPause(),
      obs({ route: { routable: true, stale: true, reason: seen.reason, message: seen.message }, canaryWeight: 20 }),
      at(1),
    );
    expect(d.actions).toContainEqual({ kind: "setWeight", weight: 20 });
    expect(cond(d, "TrafficRouted")?.status).toBe("False");
    await router.setWeight(web, 20);
    expect(writes).toEqual(["apply shop-canary"]);
  });

  it("TrafficRouted says only what was checked", () => {
    const d = decide(atPause(), obs({ route: ROUTED }), at(1));
    expect(cond(d, "TrafficRouted")).toMatchObject({ status: "True", message: ROUTED.message });
  });
});

describe("setHeaderRoute (issue 12): a preview route kept in status and in the route, removed at the end", () => {
  const steps = [{ setHeaderRoute: { name: "pr", match: [{ header: "x-canary", value: "1" }] } }, { setWeight: 20 }, { pause: {} }];
  const running = (extra: RolloutStatus = {}) =>
    rollout(
      { stableRevision: "rev1", canaryRevision: "rev2", currentStep: 0, stepStartedAt: at(0).toISOString(), ...extra },
      { strategy: { canary: { steps } } },
    );

  it("sets the route once the canary is Available, before any weight, and goes on", () => {
    const d = decide(running(), observed({ canary: deployment("rev2", 1), canaryWeight: 0 }), at(1));
    expect(d.status.headerRoute).toEqual(steps[0]?.setHeaderRoute);
    expect(d.status.currentStep).toBe(1);
    expect(d.actions).toContainEqual({ kind: "setHeaderRoute", route: steps[0]?.setHeaderRoute });
  });

  it("after a restart that lost the route (or an edit), puts it back; at rollback removes it before the canary scales down", () => {
    const set = running({ currentStep: 2, headerRoute: steps[0]?.setHeaderRoute });
    const again = decide(set, observed({ canary: deployment("rev2", 1), canaryWeight: 20 }), at(5));
    expect(again.actions).toContainEqual({ kind: "setHeaderRoute", route: steps[0]?.setHeaderRoute });
    const routed = { ...ROUTED, headerRoute: "pr" };
    const idle = decide(set, observed({ canary: deployment("rev2", 1), canaryWeight: 20, route: routed }), at(6));
    expect(idle.actions.some((a) => a.kind === "setHeaderRoute")).toBe(false);
    const aborted = decide(
      set,
      observed({ canary: deployment("rev2", 1), canaryWeight: 20, route: routed, action: { kind: "abort", value: "abort/1" } }),
      at(7),
    );
    const kinds = aborted.actions.map((a) => a.kind);
    expect(aborted.status.headerRoute).toBeUndefined();
    expect(kinds).toContain("setHeaderRoute");
    // The canary keeps its pods while the proxy drops the preview route and the weight.
    expect(kinds).not.toContain("ensureCanary");
    const drained = decide(
      rollout(aborted.status),
      observed({ canary: deployment("rev2", 1), canaryWeight: 0, route: { ...ROUTED, headerRoute: undefined } }),
      at(7 + 10),
    );
    expect(drained.actions).toContainEqual({ kind: "ensureCanary", template: "keep", replicas: 0 });
  });
});
