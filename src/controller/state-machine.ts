// The rollout state machine, as a pure function of (rollout, observed state, clock). It returns
// the next status, the actions that move the cluster toward it, the Events to record and when
// to look again. It never performs I/O; src/controller/reconciler.ts observes and applies.
//
// Safety rules it encodes (product.md):
// - the stable Deployment's template changes only on promotion (or on the very first apply);
// - any failure sets the canary weight to 0 before the canary is scaled down, and the canary
//   keeps its pods for scaleDownDelaySeconds after that, while the proxy applies the weight;
// - promotion needs at least one passing analysis interval at the final weight (no data is
//   never a pass), except for an explicit `promote-full` by a person;
// - a rolled-back revision is not started again until `retry` or a new template.
import { type AnalysisOutcome, analysisTick, atWeight, type Sample, startAnalysis, untilNextSample } from "../analysis/analysis-tick.js";
import type { AnalysisSettings } from "../analysis/checks.js";
import { parseDuration } from "../api/duration.js";
import { describeHeaderMatch } from "../api/header-route.js";
import {
  type ApprovalStep,
  CANARY_SCALE_DOWN_DELAY_SECONDS,
  type CanaryStep,
  type Condition,
  type GateDecision,
  type HeaderRoute,
  type LifecycleKind,
  type LifecycleTransition,
  type RolloutPhase,
  type RolloutSpec,
  type RolloutStatus,
} from "../api/types.js";
import { type ConditionInput, removeCondition, setCondition } from "./conditions.js";
import { decidedBy, type UserAction } from "./user-actions.js";

export interface DeploymentView {
  /** The fledge.dev/revision label of its pod template. */
  revision: string | undefined;
  /** spec.replicas */
  replicas: number;
  /** Rolled out and every desired pod available (true for 0 replicas once rolled out). */
  available: boolean;
}

export type PolicyView = { found: true; settings: AnalysisSettings } | { found: false; problem: string; reason: string };

/** What the router saw (src/traffic/router.ts), passed on to the TrafficRouted condition unchanged. */
export interface RouteView {
  /** The user's routing object exists, targets this Rollout, and is this Rollout's alone. */
  routable: boolean;
  reason: string;
  message: string;
  /** The canary route no longer follows the user's object: rewrite it. */
  stale?: boolean;
  /** Gateway API: every parent accepted the route at its generation (undefined: no such report). */
  accepted?: boolean;
  /** Not accepted only because the gateway has yet to report on the latest generation; the one
   * before was accepted and still routes. */
  acknowledging?: boolean;
  /** The preview route the routing object carries now (its name), if any. */
  headerRoute?: string;
}

/** The route may still send requests to the canary: a weight, or a header preview route. */
const routedToCanary = (o: ObservedState) => o.route.routable && (o.canaryWeight !== 0 || o.route.headerRoute !== undefined);

/** Traffic reaches the stable Service through the route: it exists, is ours, and is accepted. */
const routed = (o: ObservedState) => o.route.routable && o.route.accepted !== false;

export interface ObservedState {
  stable?: DeploymentView;
  canary?: DeploymentView;
  route: RouteView;
  /** The weight on the canary route; undefined when there is none. */
  canaryWeight?: number;
  /** Ready endpoints of the canary Service (undefined: not observed). Available pods are not
   * enough: a Service whose targetPort matches no port of the pods has none, and a proxy sent
   * there answers 503 itself. */
  canaryEndpoints?: number;
  /** Undefined when the Rollout names no AnalysisPolicy. */
  policy?: PolicyView;
  /** With a workloadRef (or one being handed back): the Deployment, as far as the machine needs it. */
  workload?: WorkloadView;
  /** A fresh reading of the counters, when the reconciler took one (see wantsSample). */
  sample?: Sample;
  action?: UserAction;
  /** Fresh randomness from the shell, used only to mint the token of a new approval gate. */
  entropy?: string;
  /** An action annotation whose value is not understood. */
  invalidAction?: string;
}

/** The Deployment a workloadRef names (or named, while it is handed back). */
export interface WorkloadView {
  name: string;
  found: boolean;
  /** The revision of its pod template now. */
  templateRevision?: string;
}

export interface RolloutView {
  name: string;
  namespace: string;
  generation: number;
  /** Hash of the desired pod template: spec.template, or the referenced Deployment's. */
  revision: string;
  /** Pods the stable side has: spec.replicas, or the referenced Deployment's replicas (its HPA's). */
  replicas: number;
  /** The Rollout is being deleted (it waits on Fledge's finalizer). */
  deleting?: boolean;
  /** The stable pods' label selector, as a string (default: the Rollout's stable track labels). */
  stableSelector?: string;
  spec: RolloutSpec;
  status: RolloutStatus;
}

export type ControllerAction =
  | { kind: "ensureServices" }
  /** template "desired": the desired template at `revision`; "keep": leave the template, only scale.
   * For a referenced Deployment (which scales itself): "keep" holds it paused, "desired" lets it
   * roll its template out and pauses it again once it has. */
  | { kind: "ensureStable"; template: "desired" | "keep"; replicas: number }
  | { kind: "ensureCanary"; template: "desired" | "keep"; replicas: number }
  | { kind: "setWeight"; weight: number }
  /** Sets (or with undefined removes) the header preview route. */
  | { kind: "setHeaderRoute"; route: HeaderRoute | undefined }
  | { kind: "clearActionAnnotation"; value: string }
  /** Before anything is adopted: a deletion then waits until the Deployment is handed back. */
  | { kind: "addFinalizer" }
  /** The adopted Deployment goes back to its owner: unpaused, or left paused (with the reason)
   * when its template was never promoted. */
  | { kind: "handBack"; deployment: string; leftPaused?: string }
  | { kind: "removeFinalizer" };

/** Ready reasons that mean "stable runs, but traffic cannot be routed": not a rollback. */
export const ROUTING_PROBLEM = "TrafficNotRouted";

export interface RolloutEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface Decision {
  status: RolloutStatus;
  actions: ControllerAction[];
  events: RolloutEvent[];
  /** The moves of this decision that are lifecycle notices (notify turns them into the outbox). */
  transitions: LifecycleTransition[];
  /** Look again after this many ms even if nothing changes; undefined: only when something changes. */
  requeueAfterMs?: number;
  /** Analysis outcome of this reconcile, for metrics and logs. */
  analysisOutcome?: AnalysisOutcome;
}

const HOLD_RETRY_MS = 5_000;
const CANARY_POLL_MS = 10_000;

/** How many canary pods carry `weight` percent of the traffic of `replicas` stable pods. */
export function canaryReplicasFor(replicas: number, weight: number): number {
  return Math.max(1, Math.ceil((Math.max(replicas, 1) * weight) / 100));
}

/** Canary pods during step `index`: the last setCanaryScale up to it, else its weight's share of
 * the stable replicas (Argo Rollouts' semantics: a setCanaryScale holds until the next one). */
export function canaryReplicasAt(steps: CanaryStep[], index: number, currentWeight: number, stableReplicas: number): number {
  let scale: CanaryStep["setCanaryScale"];
  for (let i = 0; i <= Math.min(index, steps.length - 1); i++) {
    const step = steps[i]?.setCanaryScale;
    if (step) scale = step.matchTrafficWeight ? undefined : step;
  }
  if (scale?.replicas !== undefined) return scale.replicas;
  if (scale?.weight !== undefined) return canaryReplicasFor(stableReplicas, scale.weight);
  return canaryReplicasFor(stableReplicas, stepWeight(steps, index, currentWeight));
}

/** The weight the canary will carry during the current step (scale before shifting traffic). */
function stepWeight(steps: CanaryStep[], index: number, current: number): number {
  let weight = current;
  for (let i = 0; i <= Math.min(index, steps.length - 1); i++) {
    const w = steps[i]?.setWeight;
    if (w !== undefined) weight = w;
  }
  return Math.max(weight, current);
}

/** The weight set by the last setWeight step before step `index`. */
export function heldWeight(steps: CanaryStep[], index: number): number {
  let weight = 0;
  for (let i = 0; i < Math.min(index, steps.length); i++) {
    const w = steps[i]?.setWeight;
    if (w !== undefined) weight = w;
  }
  return weight;
}

/** Whether the reconciler should read the counters from Prometheus before deciding. */
export function wantsSample(rollout: RolloutView, observed: Omit<ObservedState, "sample">, now: Date): boolean {
  const s = rollout.status;
  if (!rollout.spec.analysis || observed.policy?.found !== true) return false;
  if (s.canaryRevision !== rollout.revision || s.phase === "Promoting" || s.phase === "Degraded") return false;
  if ((observed.canaryWeight ?? 0) <= 0) return false;
  const analysis = s.analysis?.revision === rollout.revision ? s.analysis : undefined;
  return untilNextSample(analysis, observed.policy.settings, now) === 0;
}

/** What the canary rules share while deciding one reconcile (src/controller/state-machine.ts). */
interface CanaryTurn {
  o: ObservedState;
  /** The person's action, until a rule consumes it. */
  action: UserAction | undefined;
  steps: CanaryStep[];
  index: number;
  step: CanaryStep | undefined;
  /** The weight read back from the routing object. */
  observedWeight: number;
  pausedByAnalysis: boolean;
  /** Set by the analysis rule: a pause may end, or the canary be promoted, now. */
  analysisPassed: boolean;
}

type StepKind = "setWeight" | "pause" | "approval" | "setHeaderRoute" | "setCanaryScale";

/** Actions of one key are alternatives: a decision carries at most one of each. */
const actionKey = (a: ControllerAction) => (a.kind === "clearActionAnnotation" ? `${a.kind}/${a.value}` : a.kind);

/** The CRD lets a step be exactly one kind. */
function stepKindOf(step: CanaryStep | undefined): StepKind {
  if (step?.setWeight !== undefined) return "setWeight";
  if (step?.approval !== undefined) return "approval";
  if (step?.setHeaderRoute !== undefined) return "setHeaderRoute";
  if (step?.setCanaryScale !== undefined) return "setCanaryScale";
  return "pause";
}

export function decide(rollout: RolloutView, observed: ObservedState, now: Date): Decision {
  const d = new DecisionBuilder(rollout, now);
  return d.run(observed);
}

class DecisionBuilder {
  private readonly s: RolloutStatus;
  private readonly actions: ControllerAction[] = [];
  private readonly events: RolloutEvent[] = [];
  private readonly transitions: LifecycleTransition[] = [];
  private readonly wakes: number[] = [];
  private analysisOutcome: AnalysisOutcome | undefined;
  private observed: ObservedState | undefined;

  constructor(
    private readonly r: RolloutView,
    private readonly now: Date,
  ) {
    this.s = structuredClone(r.status ?? {});
  }

  run(o: ObservedState): Decision {
    const { r, s } = this;
    this.observed = o;
    s.observedGeneration = r.generation;
    s.currentRevision = r.revision;
    if (o.canaryWeight !== undefined) s.canaryWeight = o.canaryWeight;
    // What the scale subresource shows (kubectl scale, an HPA): the stable side.
    s.replicas = o.stable?.replicas ?? 0;
    s.selector = r.stableSelector ?? `fledge.dev/rollout=${r.name},fledge.dev/track=stable`;
    const ref = r.spec.workloadRef;
    const handingBack = r.deleting === true || (s.workload !== undefined && s.workload.name !== ref?.name);
    if (ref && !handingBack) {
      // The finalizer comes before anything is adopted: a deletion then always hands back.
      this.act({ kind: "addFinalizer" });
      if (o.workload?.found) s.workload = { name: ref.name };
    }

    let action = o.action;
    if (action && s.handledAction === action.value) {
      // Applied before the operator could remove the annotation: only remove it now.
      this.act({ kind: "clearActionAnnotation", value: action.value });
      action = undefined;
    } else if (!action && s.handledAction) {
      // The annotation is gone: the same value may be written again (by hand, without a nonce)
      // and must then be applied again. status.lastAction keeps the record.
      delete s.handledAction;
    }
    if (o.invalidAction !== undefined) {
      this.event(
        "Warning",
        "InvalidAction",
        `fledge.dev/action "${o.invalidAction}" is not one of promote, promote-full, abort, retry, approve, reject; it was removed`,
      );
      this.act({ kind: "clearActionAnnotation", value: o.invalidAction });
    }

    this.act({ kind: "ensureServices" });
    this.trafficCondition(o);

    const decision = handingBack
      ? this.handBack(o)
      : ref && !o.workload?.found
        ? this.workloadMissing(ref.name)
        : !o.stable
          ? this.firstApply(o, action)
          : o.stable.revision === r.revision
            ? this.stableIsDesired(o, action)
            : this.canary(o, action);
    // An action the rollout cannot act on yet (a promote during a weight shift, say) stays in its
    // annotation; say so once, so the person who asked is not left guessing.
    if (action && !decision.actions.some((a) => a.kind === "clearActionAnnotation" && a.value === action.value)) {
      if (s.lastAction?.value !== action.value)
        s.lastAction = {
          value: action.value,
          kind: action.kind,
          outcome: "Waiting",
          message: `kept until the rollout can act on it (now: ${s.message ?? s.phase ?? "starting"})`,
          at: this.now.toISOString(),
        };
    }
    // A broken policy (or its Secret) shows at once, also on a Healthy Rollout: before any canary starts.
    this.policyCondition(o);
    this.followHeaderRoute(o, decision);
    // The user edited their routing object: the canary route follows it at once, at its weight.
    if (o.route.routable && o.route.stale && o.canaryWeight !== undefined && !decision.actions.some((a) => a.kind === "setWeight"))
      decision.actions.push({ kind: "setWeight", weight: o.canaryWeight });
    return decision;
  }

  // ------------------------------------------------------------------------------- phases

  private workloadMissing(deployment: string): Decision {
    const { r, s } = this;
    this.phase(
      s.stableRevision ? "Degraded" : "Initializing",
      `Deployment ${deployment} (spec.workloadRef) not found in namespace ${r.namespace}: create it, or fix spec.workloadRef.name`,
    );
    this.condition({ type: "Ready", status: "False", reason: "WorkloadNotFound", message: s.message ?? "" });
    return this.done();
  }

  /**
   * The Rollout is deleted, or its workloadRef no longer names the Deployment it adopted: traffic
   * goes back to stable (weight 0, no preview route), the canary keeps its pods until the proxy has
   * caught up, then the Deployment is handed back — unpaused, unless its template was never
   * promoted: then it stays paused, serving the stable revision, and says why (an unjudged
   * template is never rolled out by Fledge's own hand).
   */
  private handBack(o: ObservedState): Decision {
    const { r, s } = this;
    const deployment = s.workload?.name;
    const why = r.deleting ? "the Rollout is being deleted" : "spec.workloadRef no longer names it";
    if (s.workload && !s.workload.releasingSince) s.workload.releasingSince = this.now.toISOString();
    const template = o.workload?.templateRevision;
    const judged =
      s.stableRevision === undefined ||
      template === s.stableRevision ||
      (s.phase === "Promoting" && s.canaryRevision !== undefined && template === s.canaryRevision);
    this.closeGate("Aborted", why);
    delete s.headerRoute;
    this.drainCanary(o);
    const drained = !o.canary || o.canary.replicas === 0 || this.actions.some((a) => a.kind === "ensureCanary" && a.replicas === 0);
    if (!drained) {
      this.phase("Progressing", `handing Deployment ${deployment} back (${why}): traffic goes back to stable first`);
      this.condition({ type: "Ready", status: "False", reason: "HandingBack", message: s.message ?? "" });
      return this.done();
    }
    if (deployment && o.workload?.found) {
      const leftPaused = judged
        ? undefined
        : `its template (revision ${template}) was never promoted by Fledge, so it stays paused and keeps serving revision ${s.stableRevision}: run 'kubectl rollout resume deployment/${deployment}' to roll the template out, or revert it`;
      this.act({ kind: "handBack", deployment, ...(leftPaused ? { leftPaused } : {}) });
      this.event(
        leftPaused ? "Warning" : "Normal",
        "WorkloadHandedBack",
        `Deployment ${deployment} handed back (${why})${leftPaused ? `; ${leftPaused}` : ", unpaused"}`,
      );
    }
    if (r.deleting) {
      this.act({ kind: "removeFinalizer" });
      return this.done();
    }
    // The Rollout goes on with its new spec from scratch.
    for (const key of [
      "workload",
      "stableRevision",
      "canaryRevision",
      "currentStep",
      "stepStartedAt",
      "lastProgressAt",
      "rolledBackRevision",
      "promoteRequested",
      "analysis",
      "canaryDrainingSince",
    ] as const)
      delete s[key];
    this.wakes.push(0);
    return this.done();
  }

  private firstApply(o: ObservedState, action: UserAction | undefined): Decision {
    const { r, s } = this;
    if (action?.kind === "promote-full") {
      // A person's explicit override: deploy the desired template as stable.
      this.markHandled(action, undefined, `revision ${r.revision} is deployed as the stable version`);
      this.event("Normal", "FullPromotionRequested", `promote --full: revision ${r.revision} is deployed as the stable version`);
    } else if (s.stableRevision && s.stableRevision !== r.revision) {
      // The stable Deployment vanished while a different revision was desired: deploying the
      // new template as "stable" would skip the canary. Refuse and say why.
      this.phase(
        "Degraded",
        `the stable Deployment ${r.name}-stable is missing; its template (revision ${s.stableRevision}) cannot be recovered. Revert spec.template or run 'fledge promote --full' to deploy revision ${r.revision} directly.`,
      );
      this.condition({ type: "Ready", status: "False", reason: "StableMissing", message: s.message ?? "" });
      return this.done();
    }
    this.act({ kind: "ensureStable", template: "desired", replicas: r.replicas });
    if (o.route.routable) this.act({ kind: "setWeight", weight: 0 });
    this.phase("Initializing", `deploying revision ${r.revision} as the stable version`);
    this.condition({ type: "Ready", status: "False", reason: "Initializing", message: s.message ?? "" });
    this.condition({ type: "Progressing", status: "True", reason: "DeployingStable", message: s.message ?? "" });
    return this.done();
  }

  private stableIsDesired(o: ObservedState, action: UserAction | undefined): Decision {
    const { r, s } = this;
    this.act({ kind: "ensureStable", template: "desired", replicas: r.replicas });
    if (action) this.markHandled(action, `nothing to ${action.kind}: revision ${r.revision} is already stable`);
    if (!o.stable?.available) {
      const promoting = s.phase === "Promoting" || s.canaryRevision === r.revision;
      this.phase(
        promoting ? "Promoting" : s.phase === "Initializing" || !s.stableRevision ? "Initializing" : "Progressing",
        `waiting for the stable Deployment (revision ${r.revision}) to become Available`,
      );
      this.condition({ type: "Ready", status: "False", reason: promoting ? "Promoting" : "StableNotAvailable", message: s.message ?? "" });
      this.condition({
        type: "Progressing",
        status: "True",
        reason: promoting ? "Promoting" : "DeployingStable",
        message: s.message ?? "",
      });
      this.wakes.push(CANARY_POLL_MS);
      return this.done();
    }
    // Stable serves the desired revision: all traffic to it, canary idle.
    this.drainCanary(o);
    if (s.canaryRevision === r.revision || s.phase === "Promoting") {
      this.announce(
        "Promoted",
        r.revision,
        "Normal",
        `revision ${r.revision} promoted: the stable Deployment runs it and serves all traffic`,
      );
    } else if (s.canaryRevision && s.canaryRevision !== r.revision) {
      this.event(
        "Normal",
        "CanaryAbandoned",
        `canary revision ${s.canaryRevision} abandoned: the template is back to stable revision ${r.revision}`,
      );
    } else if (s.phase === "Initializing" || !s.stableRevision) {
      this.event("Normal", "StableDeployed", `revision ${r.revision} deployed as the stable version`);
    }
    s.stableRevision = r.revision;
    delete s.canaryRevision;
    delete s.currentStep;
    delete s.stepStartedAt;
    delete s.rolledBackRevision;
    delete s.promoteRequested;
    delete s.headerRoute;
    delete s.analysis;
    s.conditions = removeCondition(removeCondition(removeCondition(s.conditions, "AnalysisHealthy"), "Paused"), "ApprovalPending");
    if (routed(o)) {
      this.phase("Healthy", `stable revision ${r.revision} serves all traffic`);
      this.condition({ type: "Ready", status: "True", reason: "Healthy", message: s.message ?? "" });
    } else if (o.route.acknowledging) {
      // Our own weight write bumped the route's generation and the gateway has not reported on
      // it yet; the generation it did accept still routes. Not Degraded (that flash after every
      // promotion read as a rollback), not yet Ready either: `fledge wait` holds until it is.
      this.phase("Healthy", `stable revision ${r.revision} serves all traffic; waiting for the gateway: ${o.route.message}`);
      this.condition({ type: "Ready", status: "False", reason: o.route.reason, message: s.message ?? "" });
    } else {
      // Phase, Ready and `fledge wait` agree: a Rollout no traffic can reach is not Healthy.
      this.phase("Degraded", `stable revision ${r.revision} runs, but traffic cannot be routed to it: ${o.route.message}`);
      this.condition({ type: "Ready", status: "False", reason: ROUTING_PROBLEM, message: s.message ?? "" });
    }
    this.condition({ type: "Progressing", status: "False", reason: "Idle", message: "no canary is running" });
    return this.done();
  }

  /**
   * A canary is decided by an ordered list of small rules: the first that decides, decides; the
   * others pass. Each names the one thing it looks at, so the order reads as the policy.
   */
  private readonly canaryRules: ReadonlyArray<readonly [string, (t: CanaryTurn) => Decision | undefined]> = [
    ["a rolled-back revision waits for retry or promote --full", (t) => this.rolledBackRevision(t)],
    ["promote --full, or a promotion under way", (t) => this.fullPromotion(t)],
    ["a new revision starts its canary", (t) => this.newRevision(t)],
    ["abort rolls back", (t) => this.abortRequested(t)],
    ["routing or the policy not ready: hold, with no deadline", (t) => this.holdForRoutingOrPolicy(t)],
    ["no progress within the deadline: roll back", (t) => this.deadline(t)],
    ["the canary's pods come before its traffic", (t) => this.canaryPods(t)],
    ["no traffic to a canary without ready endpoints", (t) => this.canaryEndpoints(t)],
    ["a weight someone changed is put back", (t) => this.weightDrift(t)],
    ["the analysis rolls back or pauses", (t) => this.analysisVerdict(t)],
    ["an analysis pause holds until promoted", (t) => this.analysisPause(t)],
    ["all steps done: promote", (t) => this.allStepsDone(t)],
    ["the current step", (t) => this.stepKinds[stepKindOf(t.step)](t)],
  ];

  /** One handler per step kind. */
  private readonly stepKinds: Record<StepKind, (t: CanaryTurn) => Decision> = {
    setWeight: (t) => this.weightStep(t),
    pause: (t) => this.pauseStep(t),
    approval: (t) => this.approvalStep(t.index, t.step?.approval ?? {}, t.o, t.action),
    setHeaderRoute: (t) => this.headerRouteStep(t.index, t.step?.setHeaderRoute ?? { name: "" }),
    // The canaryPods rule already held this step until the canary had the pods it asks for.
    setCanaryScale: (t) =>
      this.advance(t.index, `canary scaled to ${canaryReplicasAt(t.steps, t.index, t.observedWeight, this.r.replicas)} pod(s)`),
  };

  private canary(o: ObservedState, action: UserAction | undefined): Decision {
    const { r, s } = this;
    s.stableRevision = o.stable?.revision;
    // Stable keeps its template; only its size follows spec.replicas.
    this.act({ kind: "ensureStable", template: "keep", replicas: r.replicas });
    const steps = r.spec.strategy.canary.steps;
    const index = s.currentStep ?? 0;
    const turn: CanaryTurn = {
      o,
      action,
      steps,
      index,
      step: steps[index],
      observedWeight: o.canaryWeight ?? 0,
      pausedByAnalysis: s.conditions?.some((c) => c.type === "Paused" && c.status === "True" && c.reason !== "PausedByStep") ?? false,
      analysisPassed: false,
    };
    for (const [, rule] of this.canaryRules) {
      const decided = rule(turn);
      if (decided) return decided;
    }
    throw new Error("no canary rule decided"); // the last rule always decides
  }

  private rolledBackRevision({ o, action }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    if (s.rolledBackRevision !== r.revision) return undefined;
    if (action?.kind === "promote-full") {
      // As in Argo Rollouts: a person's explicit override promotes even a rolled-back canary.
      this.markHandled(action, undefined, `revision ${r.revision} is being promoted although it was rolled back`);
      delete s.rolledBackRevision;
      s.canaryRevision = r.revision;
      this.event("Normal", "FullPromotionRequested", `promote --full: rolled-back revision ${r.revision} becomes stable`);
      return this.promote();
    }
    if (action?.kind === "retry") {
      this.markHandled(action, undefined, `revision ${r.revision} runs again from the first step`);
      delete s.rolledBackRevision;
      delete s.canaryRevision;
      this.event("Normal", "RetryRequested", `retrying revision ${r.revision}`);
      return this.startCanary(o);
    }
    if (action)
      this.markHandled(
        action,
        `revision ${r.revision} was rolled back; 'fledge retry ${r.name}' runs it again, 'fledge promote --full ${r.name}' makes it stable now`,
      );
    return this.holdRolledBack(o);
  }

  private fullPromotion({ action }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    if (action?.kind === "promote-full") {
      this.markHandled(action, undefined, `remaining steps skipped; revision ${r.revision} becomes stable`);
      s.canaryRevision = r.revision;
      this.event("Normal", "FullPromotionRequested", `promote --full: skipping the remaining steps; revision ${r.revision} becomes stable`);
      this.closeGate("Superseded", "promote --full");
      return this.promote();
    }
    return s.phase === "Promoting" && s.canaryRevision === r.revision ? this.promote() : undefined;
  }

  private newRevision({ o, action }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    if (s.canaryRevision === r.revision) return undefined;
    if (action) this.markHandled(action, `the canary for revision ${r.revision} has not started yet`);
    return this.startCanary(o);
  }

  private abortRequested(t: CanaryTurn): Decision | undefined {
    const { r } = this;
    if (t.action?.kind === "abort") {
      this.markHandled(t.action, undefined, `revision ${r.revision} rolled back: weight 0, canary scaled down`);
      return this.rollback("Aborted", "aborted by a user");
    }
    if (t.action?.kind === "retry") {
      this.markHandled(t.action, `revision ${r.revision} is running, nothing to retry`);
      t.action = undefined;
    }
    return undefined;
  }

  /** Holds that are not the rollout's fault: no deadline while they last. A route the gateway
   * has not accepted (yet) holds too: until it is, nothing is routed. */
  private holdForRoutingOrPolicy({ o }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    if (routed(o) && !(o.policy && !o.policy.found)) return undefined;
    s.lastProgressAt = this.now.toISOString();
    this.phase(
      "Progressing",
      !routed(o) ? `waiting for traffic routing: ${o.route.message}` : `waiting for AnalysisPolicy ${r.spec.analysis?.policy}`,
    );
    this.condition({ type: "Ready", status: "False", reason: !routed(o) ? ROUTING_PROBLEM : "Waiting", message: s.message ?? "" });
    this.wakes.push(HOLD_RETRY_MS);
    return this.done();
  }

  /** The deadline runs except while a pause step, an approval or an analysis pause holds the rollout. */
  private deadline({ o, step, steps, index, pausedByAnalysis }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    const inPause = step?.pause !== undefined || step?.approval !== undefined || pausedByAnalysis || index >= steps.length;
    if (inPause) return undefined;
    const deadlineMs = (r.spec.progressDeadlineSeconds ?? 600) * 1000;
    const since = Date.parse(s.lastProgressAt ?? s.stepStartedAt ?? this.now.toISOString());
    const left = since + deadlineMs - this.now.getTime();
    if (left > 0) {
      this.wakes.push(left);
      return undefined;
    }
    const canaryState = o.canary?.available ? "" : " (the canary never became Available)";
    return this.rollback("ProgressDeadlineExceeded", `no progress for ${r.spec.progressDeadlineSeconds ?? 600} s${canaryState}`);
  }

  /** Scale the canary for the weight of this step before shifting traffic to it. */
  private canaryPods({ o, steps, index, observedWeight }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    const desiredCanary = canaryReplicasAt(steps, index, observedWeight, r.replicas);
    this.act({ kind: "ensureCanary", template: "desired", replicas: desiredCanary });
    if (o.canary?.revision === r.revision && o.canary.available && o.canary.replicas >= desiredCanary) return undefined;
    this.phase("Progressing", `waiting for ${desiredCanary} canary pod(s) of revision ${r.revision} to become Available`);
    this.condition({ type: "Ready", status: "False", reason: "CanaryNotAvailable", message: s.message ?? "" });
    this.condition({ type: "Progressing", status: "True", reason: "WaitingForCanary", message: s.message ?? "" });
    return this.done();
  }

  private canaryEndpoints({ o, steps, index, observedWeight }: CanaryTurn): Decision | undefined {
    const { r, s } = this;
    const wantsTraffic =
      stepWeight(steps, index, observedWeight) > 0 || steps.slice(0, index + 1).some((x) => x.setHeaderRoute?.match?.length);
    if (o.canaryEndpoints !== 0 || !wantsTraffic) return undefined;
    this.phase(
      "Progressing",
      `the canary's ${o.canary?.replicas ?? 0} pod(s) are Available but Service ${r.name}-canary has no ready endpoints (does its targetPort match a port of the canary's pods?): no traffic goes to it until it has`,
    );
    this.condition({ type: "Ready", status: "False", reason: "CanaryHasNoEndpoints", message: s.message ?? "" });
    this.condition({ type: "Progressing", status: "True", reason: "WaitingForCanary", message: s.message ?? "" });
    // Endpoints gone under a weight already set: take it back until they return.
    if ((o.canaryWeight ?? 0) > 0) this.act({ kind: "setWeight", weight: 0 });
    this.wakes.push(HOLD_RETRY_MS);
    return this.done();
  }

  /** The weight is read back from the routing object each time (the object is the truth): if it
   * drifted from what the steps so far set (someone edited it, or a crash between two writes),
   * put it back before anything else. */
  private weightDrift({ step, steps, index, observedWeight }: CanaryTurn): Decision | undefined {
    const held = heldWeight(steps, index);
    if (step?.setWeight !== undefined || observedWeight === held) return undefined;
    this.act({ kind: "setWeight", weight: held });
    this.phase("Progressing", `restoring weight ${held} % on the canary (found ${observedWeight} %)`);
    return this.done();
  }

  /** Analysis runs in the background from the first weight above 0. Leaving a timed pause or
   * promoting needs a passing interval at this weight AND a last tick that passed: a Prometheus
   * outage or a run of inconclusive ticks after a pass holds it. */
  private analysisVerdict(t: CanaryTurn): Decision | undefined {
    const { o, observedWeight } = t;
    if (o.policy?.found && observedWeight > 0) {
      const verdict = this.analyse(o.policy.settings, observedWeight, o.sample);
      if (verdict) return verdict;
    }
    const s = this.s;
    t.analysisPassed = !o.policy || observedWeight === 0 || ((s.analysis?.passesAtWeight ?? 0) >= 1 && s.analysis?.decision === "Pass");
    return undefined;
  }

  private analysisPause(t: CanaryTurn): Decision | undefined {
    const { s } = this;
    if (!t.pausedByAnalysis) return undefined;
    const paused = s.conditions?.find((c) => c.type === "Paused");
    if (t.action?.kind !== "promote") {
      this.phase("Paused", paused?.message ?? "paused by the analysis");
      this.condition({ type: "Ready", status: "False", reason: paused?.reason ?? "Paused", message: s.message ?? "" });
      return this.done();
    }
    this.markHandled(t.action, undefined, "the analysis pause ended; the analysis goes on and decides the step");
    // One promote resumes the analysis; it does not also end the step (that needs a passing interval).
    t.action = undefined;
    s.conditions = removeCondition(s.conditions, "Paused");
    s.lastProgressAt = this.now.toISOString();
    if (s.analysis) s.analysis = { ...s.analysis, resumedAt: this.now.toISOString() };
    this.event("Normal", "Resumed", "analysis pause ended by a user");
    return undefined;
  }

  private allStepsDone({ steps, index, analysisPassed, observedWeight }: CanaryTurn): Decision | undefined {
    if (index < steps.length) return undefined;
    if (analysisPassed) return this.promote();
    this.phase("Progressing", `all steps done; waiting for a passing analysis interval at weight ${observedWeight} % before promoting`);
    return this.done();
  }

  private weightStep({ step, steps, index, observedWeight }: CanaryTurn): Decision {
    const weight = step?.setWeight ?? 0;
    if (observedWeight === weight) return this.advance(index, `weight ${weight} % on the canary`);
    this.act({ kind: "setWeight", weight });
    this.phase("Progressing", `step ${index + 1}/${steps.length}: shifting ${weight} % of traffic to the canary`);
    this.progressConditions();
    return this.done();
  }

  /** A pause step. `promote` ends it, but never skips the analysis gate: without a passing
   * interval at this weight yet, the request is kept and the step ends at the first one. */
  private pauseStep({ step, steps, index, action, analysisPassed, observedWeight }: CanaryTurn): Decision {
    const { r, s } = this;
    const durationMs = step?.pause?.duration !== undefined ? parseDuration(step.pause.duration) : undefined;
    const requested =
      s.promoteRequested?.step === index && Date.parse(s.promoteRequested.at) >= Date.parse(s.stepStartedAt ?? s.promoteRequested.at);
    if (action?.kind === "promote" || requested) {
      if (analysisPassed) {
        if (action?.kind === "promote") this.markHandled(action, undefined, `step ${index + 1}/${steps.length} ended`);
        s.conditions = removeCondition(s.conditions, "Paused");
        this.event("Normal", "PromoteRequested", `pause at step ${index + 1} ended by a user`);
        return this.advance(index, "pause ended by promote");
      }
      const waiting = `promote requested: step ${index + 1}/${steps.length} ends at the next passing analysis interval at weight ${observedWeight} % (now: ${s.analysis?.explanation ?? "no interval judged yet"})`;
      if (action?.kind === "promote") {
        this.markHandled(action, undefined, waiting, "Waiting");
        s.promoteRequested = { step: index, at: this.now.toISOString() };
        this.event("Normal", "PromoteWaitingForAnalysis", `promote at step ${index + 1} waits for a passing analysis interval`);
      }
      this.phase("Progressing", waiting);
      this.progressConditions();
      return this.done();
    }
    if (durationMs === undefined) {
      this.phase("Paused", `step ${index + 1}/${steps.length}: paused until promoted ('fledge promote ${r.name}')`);
      this.condition({ type: "Paused", status: "True", reason: "PausedByStep", message: s.message ?? "" });
      this.condition({ type: "Ready", status: "False", reason: "Paused", message: s.message ?? "" });
      return this.done();
    }
    const elapsed = this.now.getTime() - Date.parse(s.stepStartedAt ?? this.now.toISOString());
    if (elapsed < durationMs) {
      this.wakes.push(durationMs - elapsed);
      this.phase("Progressing", `step ${index + 1}/${steps.length}: pausing ${step?.pause?.duration} at weight ${observedWeight} %`);
      this.progressConditions();
      return this.done();
    }
    if (!analysisPassed) {
      this.phase(
        "Progressing",
        `step ${index + 1}/${steps.length}: pause over; waiting for a passing analysis interval at weight ${observedWeight} %`,
      );
      this.progressConditions();
      return this.done();
    }
    return this.advance(index, `paused ${step?.pause?.duration}`);
  }

  // -------------------------------------------------------------------------------- moves

  /** An approval step: open a gate (once), then wait for approve, reject or the timeout. */
  private approvalStep(index: number, spec: ApprovalStep, o: ObservedState, action: UserAction | undefined): Decision {
    const { r, s } = this;
    const steps = r.spec.strategy.canary.steps;
    // A gate belongs to this run of this step: one opened before the step (re)started (an
    // earlier attempt, before a retry) decides nothing now.
    const opened = s.approval ? Date.parse(s.approval.requestedAt) : Number.NaN;
    const here =
      s.approval?.revision === r.revision && s.approval.step === index && opened >= Date.parse(s.stepStartedAt ?? s.approval.requestedAt)
        ? s.approval
        : undefined;
    // Decisions recorded in status by the Slack endpoint (the CLI's are handled below, at once).
    if (here?.decision === "Approved") {
      this.announce("Approved", r.revision, "Normal", `revision ${r.revision} approved at step ${index + 1} by ${here.decidedBy}`);
      return this.advance(index, `approved by ${here.decidedBy}`);
    }
    if (here?.decision === "Rejected") {
      this.announce("Rejected", r.revision, "Warning", `revision ${r.revision} rejected at step ${index + 1} by ${here.decidedBy}`);
      return this.rollback("Rejected", `rejected by ${here.decidedBy}`);
    }
    if (!here || here.decision !== undefined) {
      const old = s.approval;
      s.approval = {
        revision: r.revision,
        step: index,
        token: o.entropy ?? `${r.revision}-${index}-${this.now.getTime()}`,
        requestedAt: this.now.toISOString(),
      };
      // The replaced gate's Slack message still shows buttons until it is updated: keep its address.
      if (old?.slack && old.decision && old.slack.shown !== old.decision) {
        s.approval.previousMessage = {
          channel: old.slack.channel,
          ts: old.slack.ts,
          revision: old.revision,
          step: old.step,
          decision: old.decision,
          ...(old.decidedBy ? { decidedBy: old.decidedBy } : {}),
        };
      } else if (old?.previousMessage) {
        s.approval.previousMessage = old.previousMessage;
      }
      this.announce(
        "ApprovalRequested",
        r.revision,
        "Normal",
        `step ${index + 1}/${steps.length} waits for approval of revision ${r.revision}: 'fledge approve ${r.name}' or 'fledge reject ${r.name}'`,
      );
      if (action) this.markHandled(action, "the approval gate has just opened; decide again");
      return this.awaitApproval(index, spec);
    }
    const nowIso = this.now.toISOString();
    if (action?.kind === "approve" || action?.kind === "reject") {
      const who = decidedBy(action);
      this.markHandled(action, undefined, `${action.kind === "approve" ? "approved" : "rejected"} at step ${index + 1} by ${who}`);
      s.conditions = removeCondition(s.conditions, "ApprovalPending");
      if (action.kind === "approve") {
        s.approval = { ...here, decision: "Approved", decidedBy: who, decidedAt: nowIso };
        this.announce("Approved", r.revision, "Normal", `revision ${r.revision} approved at step ${index + 1} by ${who}`);
        return this.advance(index, `approved by ${who}`);
      }
      s.approval = { ...here, decision: "Rejected", decidedBy: who, decidedAt: nowIso };
      this.announce("Rejected", r.revision, "Warning", `revision ${r.revision} rejected at step ${index + 1} by ${who}`);
      return this.rollback("Rejected", `rejected by ${who}`);
    }
    const timeoutMs = parseDuration(spec.timeout ?? "1h");
    const waited = this.now.getTime() - Date.parse(here.requestedAt);
    if (waited >= timeoutMs) {
      if ((spec.onTimeout ?? "Abort") === "Abort") {
        s.approval = { ...here, decision: "TimedOut", decidedAt: nowIso };
        s.conditions = removeCondition(s.conditions, "ApprovalPending");
        return this.rollback("ApprovalTimedOut", `no approval within ${spec.timeout ?? "1h"}`);
      }
      if (action?.kind === "promote") {
        this.markHandled(action, undefined, `step ${index + 1} ended after its approval timed out`);
        s.approval = { ...here, decision: "Approved", decidedBy: decidedBy(action), decidedAt: nowIso };
        s.conditions = removeCondition(s.conditions, "ApprovalPending");
        return this.advance(index, "approval timed out; promoted by a user");
      }
      this.phase(
        "Paused",
        `step ${index + 1}/${steps.length}: no approval within ${spec.timeout ?? "1h"}; 'fledge promote ${r.name}' goes on, 'fledge abort ${r.name}' rolls back`,
      );
      this.condition({ type: "ApprovalPending", status: "True", reason: "ApprovalTimedOut", message: s.message ?? "" });
      this.condition({ type: "Ready", status: "False", reason: "ApprovalTimedOut", message: s.message ?? "" });
      return this.done();
    }
    if (action) this.markHandled(action, `step ${index + 1} waits for approve or reject`);
    this.wakes.push(timeoutMs - waited);
    return this.awaitApproval(index, spec);
  }

  private awaitApproval(index: number, spec: ApprovalStep): Decision {
    const { r, s } = this;
    const steps = r.spec.strategy.canary.steps;
    const who = spec.approvers?.length ? ` (approvers: ${spec.approvers.join(", ")})` : "";
    this.phase(
      "Paused",
      `step ${index + 1}/${steps.length}: waiting for approval${who}; 'fledge approve ${r.name}' or 'fledge reject ${r.name}'`,
    );
    this.condition({ type: "ApprovalPending", status: "True", reason: "WaitingForApproval", message: s.message ?? "" });
    this.condition({ type: "Ready", status: "False", reason: "AwaitingApproval", message: s.message ?? "" });
    this.wakes.push(parseDuration(spec.timeout ?? "1h"));
    return this.done();
  }

  private startCanary(o: ObservedState): Decision {
    const { r, s } = this;
    if (s.canaryRevision && s.canaryRevision !== r.revision) {
      this.event(
        "Normal",
        "CanarySuperseded",
        `canary revision ${s.canaryRevision} superseded by ${r.revision}: its traffic goes back to stable and a new canary starts`,
      );
    }
    this.closeGate("Superseded", `revision ${r.revision}`);
    const nowIso = this.now.toISOString();
    s.canaryRevision = r.revision;
    s.currentStep = 0;
    s.stepStartedAt = nowIso;
    s.lastProgressAt = nowIso;
    delete s.analysis;
    delete s.promoteRequested;
    delete s.headerRoute;
    s.conditions = removeCondition(removeCondition(removeCondition(s.conditions, "AnalysisHealthy"), "Paused"), "ApprovalPending");
    // Traffic first: an older canary loses its weight before its pods change.
    if (o.route.routable) this.act({ kind: "setWeight", weight: 0 });
    delete s.canaryDrainingSince;
    this.act({ kind: "ensureCanary", template: "desired", replicas: canaryReplicasAt(r.spec.strategy.canary.steps, 0, 0, r.replicas) });
    this.announce("CanaryStarted", r.revision, "Normal", `canary for revision ${r.revision} started (stable is ${s.stableRevision})`);
    this.phase("Progressing", `starting the canary for revision ${r.revision}`);
    this.progressConditions();
    this.wakes.push(0);
    return this.done();
  }

  /** A gate still pending when its canary ends some other way is closed, so no click can decide it. */
  private closeGate(decision: GateDecision, by: string): void {
    const { s } = this;
    if (s.approval && s.approval.decision === undefined)
      s.approval = { ...s.approval, decision, decidedBy: by, decidedAt: this.now.toISOString() };
  }

  private advance(index: number, what: string): Decision {
    const { r, s } = this;
    const steps = r.spec.strategy.canary.steps;
    const nowIso = this.now.toISOString();
    s.currentStep = index + 1;
    s.stepStartedAt = nowIso;
    s.lastProgressAt = nowIso;
    delete s.promoteRequested;
    s.conditions = removeCondition(s.conditions, "Paused");
    this.event("Normal", "StepCompleted", `step ${index + 1}/${steps.length} completed: ${what}`);
    this.phase("Progressing", index + 1 >= steps.length ? "all steps completed" : `step ${index + 2}/${steps.length} begins`);
    this.progressConditions();
    this.wakes.push(0);
    return this.done();
  }

  private promote(): Decision {
    const { r, s } = this;
    if (s.phase !== "Promoting")
      this.event("Normal", "Promoting", `promoting revision ${r.revision}: the stable Deployment takes the new template`);
    s.currentStep = r.spec.strategy.canary.steps.length;
    this.act({ kind: "ensureStable", template: "desired", replicas: r.replicas });
    this.phase("Promoting", `promoting revision ${r.revision}: updating the stable Deployment`);
    this.condition({ type: "Ready", status: "False", reason: "Promoting", message: s.message ?? "" });
    this.condition({ type: "Progressing", status: "True", reason: "Promoting", message: s.message ?? "" });
    this.wakes.push(CANARY_POLL_MS);
    return this.done();
  }

  /** `check`: the analysis check whose verdict rolled the canary back, for the notice. */
  private rollback(reason: string, message: string, check?: string): Decision {
    const { r, s } = this;
    const revision = s.canaryRevision ?? r.revision;
    // Order matters: weight 0 first; the canary pods go once the proxy has caught up (drainCanary).
    this.act({ kind: "setWeight", weight: 0 });
    // Draining: the canary keeps the pods it has (nothing scales it up or down before the delay).
    if (this.observed && routedToCanary(this.observed)) {
      this.withdraw("ensureCanary");
      this.startDraining();
    } else if (this.observed?.canary?.replicas !== 0) this.act({ kind: "ensureCanary", template: "keep", replicas: 0 });
    this.closeGate("Aborted", reason);
    s.rolledBackRevision = revision;
    delete s.canaryRevision;
    delete s.currentStep;
    delete s.stepStartedAt;
    delete s.promoteRequested;
    delete s.headerRoute;
    s.conditions = removeCondition(removeCondition(s.conditions, "Paused"), "ApprovalPending");
    const text = `revision ${revision} rolled back (${reason}): ${message}. Stable revision ${s.stableRevision} serves all traffic.`;
    this.announce(
      reason === "ProgressDeadlineExceeded" ? "DeadlineExceeded" : "RolledBack",
      revision,
      "Warning",
      text,
      "RolledBack",
      check,
    );
    this.phase("Degraded", text);
    this.condition({ type: "Ready", status: "False", reason, message: text });
    this.condition({ type: "Progressing", status: "False", reason: "RolledBack", message: text });
    return this.done();
  }

  private holdRolledBack(o: ObservedState): Decision {
    const { r, s } = this;
    this.drainCanary(o);
    if (s.phase !== "Degraded") {
      this.phase(
        "Degraded",
        `revision ${r.revision} was rolled back; 'fledge retry ${r.name}' runs it again, a new template starts a new canary`,
      );
      this.condition({ type: "Ready", status: "False", reason: "RolledBack", message: s.message ?? "" });
    }
    return this.done();
  }

  private analyse(settings: AnalysisSettings, weight: number, sample: Sample | undefined): Decision | undefined {
    const { r, s } = this;
    let analysis = s.analysis?.revision === r.revision ? s.analysis : startAnalysis(r.revision, this.now, settings);
    analysis = atWeight(analysis, weight, this.now, settings);
    if (sample) {
      const result = analysisTick(analysis, sample, settings);
      analysis = result.analysis;
      this.analysisOutcome = result.outcome;
      s.analysis = analysis;
      const outcome = result.outcome;
      switch (outcome.kind) {
        case "fail":
          this.condition({ type: "AnalysisHealthy", status: "False", reason: outcome.reason, message: outcome.explanation });
          this.event("Warning", "AnalysisFailed", outcome.explanation);
          return this.rollback("AnalysisFailed", outcome.explanation, outcome.check);
        case "stop":
          this.condition({ type: "AnalysisHealthy", status: "False", reason: outcome.reason, message: outcome.explanation });
          if (outcome.action === "Abort") return this.rollback(outcome.reason, outcome.explanation, outcome.check);
          // Once per pause, not once per interval: the analysis keeps sampling while paused.
          if (!s.conditions?.some((c) => c.type === "Paused" && c.status === "True" && c.reason === outcome.reason))
            this.event("Warning", "AnalysisPaused", outcome.explanation);
          this.condition({
            type: "Paused",
            status: "True",
            reason: outcome.reason,
            message: `${outcome.explanation}; 'fledge promote ${r.name}' resumes, 'fledge abort ${r.name}' rolls back`,
          });
          this.phase("Paused", outcome.explanation);
          this.condition({ type: "Ready", status: "False", reason: outcome.reason, message: s.message ?? "" });
          return this.done();
        case "error":
          this.condition({ type: "AnalysisHealthy", status: "Unknown", reason: outcome.reason, message: outcome.explanation });
          // The first failure of a run is news; the count that follows is in the condition.
          if ((analysis.consecutiveErrors ?? 0) <= 1) this.event("Warning", "AnalysisQueryFailed", outcome.explanation);
          break;
        case "inconclusive":
          this.condition({ type: "AnalysisHealthy", status: "Unknown", reason: outcome.reason, message: outcome.explanation });
          break;
        case "baseline":
          this.condition({ type: "AnalysisHealthy", status: "Unknown", reason: "Baseline", message: analysis.explanation ?? "" });
          break;
        default:
          this.condition({
            type: "AnalysisHealthy",
            status: outcome.kind === "pass" ? "True" : "False",
            reason: outcome.reason,
            message: outcome.explanation,
          });
      }
    } else {
      s.analysis = analysis;
    }
    this.wakes.push(untilNextSample(s.analysis, settings, this.now) || settings.intervalMs);
    return undefined;
  }

  // ------------------------------------------------------------------------------ helpers

  /** The weight goes to 0 at once; the canary's pods only after scaleDownDelaySeconds more, since a
   * real proxy applies a weight a moment after it is written and a request routed to a pod that is
   * gone fails (Argo Rollouts #4867). A canary no route sent anything to lately goes at once. */
  private drainCanary(o: ObservedState): void {
    const { s } = this;
    if (!o.canary || o.canary.replicas === 0) {
      delete s.canaryDrainingSince;
      return;
    }
    if (routedToCanary(o)) {
      if (o.canaryWeight !== 0) this.act({ kind: "setWeight", weight: 0 });
      this.startDraining();
      return;
    }
    const left = s.canaryDrainingSince ? Date.parse(s.canaryDrainingSince) + this.scaleDownDelayMs() - this.now.getTime() : 0;
    if (left > 0) {
      this.wakes.push(left);
      return;
    }
    this.act({ kind: "ensureCanary", template: "keep", replicas: 0 });
  }

  /** Marks the moment the canary stopped getting traffic (a later mark replaces it: the wait counts
   * from the last moment anything could route to it) and looks again when the delay is over. */
  private startDraining(): void {
    this.s.canaryDrainingSince = this.now.toISOString();
    this.wakes.push(this.scaleDownDelayMs());
  }

  private scaleDownDelayMs(): number {
    return (this.r.spec.strategy.canary.scaleDownDelaySeconds ?? CANARY_SCALE_DOWN_DELAY_SECONDS) * 1000;
  }

  /**
   * status.headerRoute is what the preview route should be; the routing object is what it is.
   * They are brought together after every decision, so a restart, a crash between two writes or
   * someone's edit never loses (or leaves behind) a preview route. Removal comes before any
   * canary scale-down (no request may be routed to a canary without ready pods); adding comes last.
   */
  private followHeaderRoute(o: ObservedState, decision: Decision): void {
    const want = decision.status.headerRoute;
    if (!o.route.routable || decision.actions.some((a) => a.kind === "setHeaderRoute")) return;
    if ((want?.name ?? undefined) === o.route.headerRoute) return;
    const action: ControllerAction = { kind: "setHeaderRoute", route: want };
    if (want) decision.actions.push(action);
    else {
      const firstScale = decision.actions.findIndex((a) => a.kind === "ensureCanary");
      decision.actions.splice(firstScale < 0 ? decision.actions.length : firstScale, 0, action);
    }
  }

  /** A setHeaderRoute step: the preview route is set (or removed) and the step is done. */
  private headerRouteStep(index: number, route: HeaderRoute): Decision {
    const { s } = this;
    if (route.match && route.match.length > 0) s.headerRoute = { name: route.name, match: route.match };
    else delete s.headerRoute;
    const what = route.match?.length
      ? `preview route ${route.name}: requests with ${describeHeaderMatch(route.match)} go to the canary`
      : `preview route ${route.name} removed`;
    return this.advance(index, what);
  }

  private trafficCondition(o: ObservedState): void {
    const ok = o.route.routable && !o.route.stale && o.canaryWeight !== undefined;
    this.condition({ type: "TrafficRouted", status: ok ? "True" : "False", reason: o.route.reason, message: o.route.message });
  }

  private policyCondition(o: ObservedState): void {
    if (!o.policy) return;
    if (!o.policy.found) {
      this.condition({ type: "AnalysisHealthy", status: "False", reason: o.policy.reason, message: o.policy.problem });
    }
  }

  private progressConditions(): void {
    const msg = this.s.message ?? "";
    this.condition({ type: "Ready", status: "False", reason: "CanaryInProgress", message: msg });
    this.condition({ type: "Progressing", status: "True", reason: "CanaryInProgress", message: msg });
  }

  /** Records that an action was handled: ignored (with the reason), applied, or waiting for something. */
  private markHandled(action: UserAction, ignoredBecause?: string, note?: string, outcome: "Applied" | "Waiting" = "Applied"): void {
    this.s.handledAction = action.value;
    this.act({ kind: "clearActionAnnotation", value: action.value });
    this.s.lastAction = {
      value: action.value,
      kind: action.kind,
      outcome: ignoredBecause ? "Ignored" : outcome,
      message: ignoredBecause ?? note ?? `${action.kind} applied`,
      at: this.now.toISOString(),
    };
    if (ignoredBecause) this.event("Normal", "ActionIgnored", `${action.kind}: ${ignoredBecause}`);
  }

  /** Adds an action, replacing an earlier one of the same kind: a decision never says both
   * "canary at N replicas" and "canary at 0", so nothing depends on which comes last. */
  private act(action: ControllerAction): void {
    const key = actionKey(action);
    const earlier = this.actions.findIndex((a) => actionKey(a) === key);
    if (earlier >= 0) this.actions.splice(earlier, 1);
    this.actions.push(action);
  }

  /** Withdraws an action of this kind decided earlier in this reconcile. */
  private withdraw(kind: ControllerAction["kind"]): void {
    const earlier = this.actions.findIndex((a) => a.kind === kind);
    if (earlier >= 0) this.actions.splice(earlier, 1);
  }

  private phase(phase: RolloutPhase, message: string): void {
    this.s.phase = phase;
    this.s.message = message;
  }

  private condition(input: ConditionInput): void {
    this.s.conditions = setCondition(this.s.conditions, input, this.now, this.r.generation);
  }

  private event(type: RolloutEvent["type"], reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }

  /** A move told to the outside (Slack thread, CloudEvents) as well as an Event. The transition is
   * typed, so notify never keys on an Event's reason (a rename would silently drop the notice). */
  private announce(
    kind: LifecycleKind,
    revision: string,
    type: RolloutEvent["type"],
    message: string,
    reason: string = kind,
    check?: string,
  ): void {
    this.event(type, reason, message);
    this.transitions.push({ kind, revision, message, ...(check ? { check } : {}) });
  }

  private done(): Decision {
    const finite = this.wakes.filter((w) => Number.isFinite(w) && w >= 0);
    const requeueAfterMs = finite.length > 0 ? Math.min(...finite) : this.s.canaryRevision ? CANARY_POLL_MS : undefined;
    const decision: Decision = { status: this.s, actions: this.actions, events: this.events, transitions: this.transitions };
    if (requeueAfterMs !== undefined) decision.requeueAfterMs = requeueAfterMs;
    if (this.analysisOutcome) decision.analysisOutcome = this.analysisOutcome;
    return decision;
  }
}

export type { Condition };
