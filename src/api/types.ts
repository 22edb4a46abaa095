// The one TypeScript definition of Fledge's API, fledge.dev/v1alpha1. The CRD schema in
// src/api/crd-schema.ts describes the same shapes; test/unit/crd-schema.test.ts keeps the two
// in step by checking that every field of a fully-populated example of each type is in the
// schema with the same JSON type, and every schema field is in the example.
import type { V1ObjectMeta, V1PodTemplateSpec } from "@kubernetes/client-node";

export const GROUP = "fledge.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

// ---------------------------------------------------------------------------------- Rollout

export interface Rollout {
  apiVersion: typeof API_VERSION;
  kind: "Rollout";
  metadata: V1ObjectMeta;
  spec: RolloutSpec;
  status?: RolloutStatus;
}

export interface RolloutSpec {
  /** Pods of the stable revision (inline template only; with workloadRef the Deployment's
   * replicas count). The canary is scaled with its weight (at least 1 pod). */
  replicas: number;
  /** A pod template, exactly as in a Deployment. Every change starts a canary. Exactly one of
   * template and workloadRef (enforced by the CRD). */
  template?: V1PodTemplateSpec;
  /** An existing Deployment released in place: its pod template is the desired revision, and it
   * stays the stable workload (see docs/concepts.md, "Adopting an existing Deployment"). */
  workloadRef?: WorkloadRef;
  service: ServiceSpec;
  traffic: TrafficSpec;
  analysis?: AnalysisRef;
  strategy: { canary: CanaryStrategy };
  /** Seconds without progress (pauses excluded) before the canary is rolled back. */
  progressDeadlineSeconds?: number;
  /** Where lifecycle messages go (one Slack thread per revision). */
  notifications?: { slack?: { channel: string } };
}

export interface WorkloadRef {
  apiVersion: "apps/v1";
  kind: "Deployment";
  name: string;
}

export interface ServiceSpec {
  port: number;
  /** A number, or the name of a container port. */
  targetPort?: number | string;
  portName?: string;
}

/** Exactly one router (enforced by the CRD). */
export interface TrafficSpec {
  /** NGINX canary annotations: a copy of your Ingress, `<ingress>-canary`, carries the weight. */
  nginx?: { ingress: string };
  /** Gateway API: the weights of the stable and canary backendRefs in your HTTPRoute's rule. */
  gatewayAPI?: { httpRoute: string; rule?: string };
}

export interface AnalysisRef {
  /** An AnalysisPolicy in the Rollout's namespace. */
  policy: string;
  /** Values substituted for {{name}} in the policy's queries, beside the built-in ones. */
  args?: Record<string, string>;
}

export interface CanaryStrategy {
  steps: CanaryStep[];
  /** Seconds the canary keeps its pods after its weight went to 0 (promotion or rollback), while
   * the proxy catches up with the weight. Default CANARY_SCALE_DOWN_DELAY_SECONDS. */
  scaleDownDelaySeconds?: number;
}

/** A real proxy applies a weight some time after it is written (Traefik batches changes for up to 2 s
 * by default, xDS proxies push asynchronously, ingress-nginx reloads): the canary's pods stay
 * that long after weight 0, so no request goes to a pod that is gone. */
export const CANARY_SCALE_DOWN_DELAY_SECONDS = 10;

/** Exactly one of the fields is set (enforced by the CRD). */
export interface CanaryStep {
  setWeight?: number;
  /** `{}` waits until promoted; `{duration: "1m"}` waits that long. */
  pause?: { duration?: string };
  /** Waits for a person's yes or no (fledge approve/reject, kubectl, or Slack). */
  approval?: ApprovalStep;
  /** A preview route: requests carrying the header go to the canary, beside any weight. Without
   * `match` it removes the preview route. Removed anyway at promotion, rollback and abort. */
  setHeaderRoute?: HeaderRoute;
  /** The canary's size from this step on, apart from its weight (Argo Rollouts' semantics): a
   * fixed count, a percentage of the stable replicas, or back to following the weight. */
  setCanaryScale?: CanaryScale;
}

/** Exactly one field (enforced by the CRD). */
export interface CanaryScale {
  replicas?: number;
  weight?: number;
  matchTrafficWeight?: boolean;
}

export interface HeaderRoute {
  name: string;
  match?: HeaderMatch[];
}

export interface HeaderMatch {
  header: string;
  value: string;
  /** Exact (default) or RegularExpression. */
  type?: "Exact" | "RegularExpression";
}

export interface ApprovalStep {
  /** Where the approval message is posted (Slack channel id). */
  slack?: { channel: string };
  /** Slack user or user-group ids allowed to decide. */
  approvers?: string[];
  /** How long to wait for a decision. */
  timeout?: string;
  /** What happens when nobody decides in time: Abort (roll back) or Pause (wait for promote/abort). */
  onTimeout?: StopAction;
}

/** The approval gate pending (or last decided) for the canary. */
export interface ApprovalStatus {
  revision: string;
  step: number;
  /** Unguessable; a click or command must name the gate pending now. */
  token: string;
  requestedAt: string;
  decision?: GateDecision;
  decidedBy?: string;
  decidedAt?: string;
  /** The approval message; `shown` is the decision its buttons were last replaced with. */
  slack?: { channel: string; ts: string; shown?: GateDecision };
  /** The message of the gate this one replaced, while it still shows its buttons. */
  previousMessage?: { channel: string; ts: string; revision: string; step: number; decision: GateDecision; decidedBy?: string };
}

/** Superseded: a newer revision (or promote --full) took over; Aborted: the canary was rolled back meanwhile. */
export type GateDecision = "Approved" | "Rejected" | "TimedOut" | "Superseded" | "Aborted";

/** Lifecycle notifications waiting to be delivered, and the Slack thread of the revision. */
export interface NotificationStatus {
  /** The revision whose thread `threadTs` is. */
  revision?: string;
  channel?: string;
  threadTs?: string;
  /** Written in the same status update as the move they report, removed once delivered. */
  outbox?: LifecycleNotice[];
}

export interface LifecycleNotice {
  /** Deterministic (rollout uid, revision, kind, time): receivers deduplicate on it. */
  id: string;
  kind: LifecycleKind;
  revision: string;
  at: string;
  message: string;
  /** The analysis figures at that moment, in words. */
  figures?: string;
  /** The analysis check whose verdict rolled the canary back. */
  check?: string;
  /** Delivery attempts that failed so far. */
  attempts?: number;
}

/** A move of a rollout that is told to the outside, as the state machine decided it. */
export interface LifecycleTransition {
  kind: LifecycleKind;
  /** The revision the move is about (a promotion or rollback has already cleared canaryRevision). */
  revision: string;
  message: string;
  /** The analysis check whose verdict rolled the canary back. */
  check?: string;
}

export type LifecycleKind =
  | "CanaryStarted"
  | "ApprovalRequested"
  | "Approved"
  | "Rejected"
  | "Promoted"
  | "RolledBack"
  | "DeadlineExceeded";

export type RolloutPhase = "Initializing" | "Healthy" | "Progressing" | "Paused" | "Promoting" | "Degraded";

export interface RolloutStatus {
  observedGeneration?: number;
  phase?: RolloutPhase;
  /** Hash of spec.template: the revision the user asked for. */
  currentRevision?: string;
  /** The revision the stable Deployment runs. */
  stableRevision?: string;
  /** The revision under test, while a canary runs. */
  canaryRevision?: string;
  /** Index of the step being run (steps.length once all steps are done). */
  currentStep?: number;
  canaryWeight?: number;
  stepStartedAt?: string;
  /** When the rollout last made progress; the progress deadline counts from here, pauses excluded. */
  lastProgressAt?: string;
  /** A revision that was rolled back: not started again until `retry` or a new template. */
  rolledBackRevision?: string;
  /** When the canary's weight went to 0 with its pods still up; they go once the delay has passed. */
  canaryDrainingSince?: string;
  /** The action annotation value just applied, kept only until the annotation is removed, so a
   * crash between the two writes does not apply it twice (src/controller/user-actions.ts). */
  handledAction?: string;
  /** The record of the last action a person asked for, and what the operator did with it. */
  lastAction?: ActionRecord;
  /** `promote` at a pause whose analysis had not passed yet: the step ends at the next passing interval. */
  promoteRequested?: { step: number; at: string };
  /** The preview route set by the last setHeaderRoute step (the routers keep it in the route itself). */
  headerRoute?: HeaderRoute;
  /** Pods of the stable Deployment (the scale subresource's status.replicas). */
  replicas?: number;
  /** Label selector of the stable pods, as a string (the scale subresource's selector, for an HPA). */
  selector?: string;
  /** The Deployment adopted through workloadRef, until it is handed back. */
  workload?: WorkloadStatus;
  analysis?: AnalysisStatus;
  approval?: ApprovalStatus;
  notifications?: NotificationStatus;
  conditions?: Condition[];
  message?: string;
}

export interface WorkloadStatus {
  name: string;
  /** Set when the Rollout was deleted or its workloadRef removed: traffic goes back to stable, then
   * the Deployment is handed back (and the Rollout's finalizer removed) once the canary drained. */
  releasingSince?: string;
}

export interface ActionRecord {
  /** The annotation value as written. */
  value: string;
  kind: string;
  /** Applied: done; Waiting: accepted, takes effect when `message` says; Ignored: not acted on. */
  outcome: "Applied" | "Waiting" | "Ignored";
  message: string;
  at: string;
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Per-arm counts the analysis has accumulated for the canary revision. */
export interface ArmCounts {
  requests: number;
  errors: number;
}

/** The analysis of the canary revision: what all its checks share (the clock, the weight they
 * are judged at, the combined decision) and each check's own state. */
export interface AnalysisStatus {
  revision: string;
  startedAt: string;
  lastSampleAt?: string;
  /** Passing intervals (every check passing) since the canary weight last changed: promotion needs at least one. */
  passesAtWeight?: number;
  /** The weight those passes were measured at. */
  weightJudged?: number;
  /** When the canary got that weight: the no-traffic timeout counts from here at the earliest. */
  weightSince?: string;
  lastConclusiveAt?: string;
  /** When a person last resumed an analysis pause: the no-traffic clock restarts there. */
  resumedAt?: string;
  consecutiveErrors?: number;
  decision?: "Pass" | "Fail" | "Inconclusive" | "Error" | "Pending";
  reason?: string;
  /** In words: the deciding check's, or what holds the decision. */
  explanation?: string;
  /** The check whose verdict decided the last tick (a failure, a stop), when one did. */
  decidedBy?: string;
  /** One entry per check of the policy, in its order. */
  checks: CheckStatus[];
}

export type CheckKind = "ratio" | "latency" | "query";

/** One check's state between ticks. Counter kinds (ratio, latency) keep counts per arm; the
 * query kind keeps its last value and the intervals it has failed. */
export interface CheckStatus {
  name: string;
  kind: CheckKind;
  /** Last raw counter value per series, so the next sample can be differenced (resets included). */
  lastCounters?: CounterSnapshot;
  /** Counts since the analysis started ("errors" are the check's bad events: slow requests for latency). */
  canary?: ArmCounts;
  stable?: ArmCounts;
  /** Counts in the interval being judged right now (threshold judge). */
  window?: { canary: ArmCounts; stable: ArmCounts; startedAt: string };
  /** Counts and ticks at the current weight (sample-ratio check, step durations). */
  atWeight?: { canary: ArmCounts; stable: ArmCounts; ticks: number; settledCanary?: number; settledTotal?: number };
  /** Opaque numbers the judge keeps between ticks (failures so far, statistic, …). */
  judgeState?: Record<string, number>;
  /** Query kind: the value read on the last tick (absent: the query returned nothing). */
  value?: number;
  /** Counter kinds: the statistic over time (src/analysis/evidence-trace.ts). */
  evidence?: EvidenceTrace;
  decision?: "Pass" | "Fail" | "Inconclusive" | "Error" | "Pending";
  reason?: string;
  /** The check's own words on the last tick. */
  explanation?: string;
}

/** A check's evidence over time: points [Unix seconds, weight %, canary share of the requests
 * served in the tick (null: none served), the judge's statistic (null: the judge keeps none)],
 * oldest first, thinned as they grow; the statistic's roll-back and accept boundaries. */
export interface EvidenceTrace {
  reject?: number;
  accept?: number;
  points: Array<[number, number, number | null, number | null]>;
}

/** Series key → last counter value, one map per arm and counter. */
export interface CounterSnapshot {
  canaryRequests: Record<string, number>;
  canaryErrors: Record<string, number>;
  stableRequests: Record<string, number>;
  stableErrors: Record<string, number>;
  /** The Prometheus evaluation instant of these values (Unix seconds): a series new in the next
   * reading is looked up at this instant to tell history from new counts. */
  evaluatedAt?: number;
}

// --------------------------------------------------------------------------- AnalysisPolicy

export interface AnalysisPolicy {
  apiVersion: typeof API_VERSION;
  kind: "AnalysisPolicy";
  metadata: V1ObjectMeta;
  spec: AnalysisPolicySpec;
}

export interface AnalysisPolicySpec {
  /** Defaults to the operator's --prometheus-url (with no credentials). */
  prometheus?: PrometheusSpec;
  /** How often the counters are sampled and judged. */
  interval?: string;
  /** The checks, judged together at every interval: one failing fails the canary; a step passes
   * only when every check passes. Exactly one of checks and errorRate. */
  checks?: AnalysisCheck[];
  /** The one error-rate check of earlier versions; read as `checks: [{name: error-rate, ratio: …}]`. */
  errorRate?: ErrorRateCheck;
  /** With checks: what to do when intervals stay inconclusive (with errorRate, it sits there). */
  noTraffic?: { timeout?: string; action?: StopAction };
  /** Consecutive Prometheus errors tolerated before the policy's onError action. */
  queryErrors?: { limit?: number; action?: StopAction };
}

/** One check: a name and exactly one kind. */
export interface AnalysisCheck {
  name: string;
  ratio?: RatioCheck;
  latency?: LatencyCheck;
  query?: QueryCheck;
}

/** What the counter kinds (ratio, latency) share: how the canary's bad-event share is judged
 * against stable's. */
export interface CounterCheckJudging {
  judge: JudgeSpec;
  /** Fewer canary events than this in an interval make it inconclusive. */
  minRequests?: number;
  /** An absolute guard beside the comparison: a one-sample test of the canary's bad share. */
  slo?: { maxErrorRate: number; burnErrorRate?: number };
  /** Stop when the canary's measured share is this many standard deviations below its weight
   * (routing or readiness is broken); 0 turns the check off. */
  maxSampleRatioZ?: number;
}

/** Two COUNTER queries per arm: all events and the bad ones ({{service}} is the arm's Service). */
export interface RatioCheck extends CounterCheckJudging {
  total: string;
  bad: string;
}

/** The share of requests slower than `maxSeconds`, from a classic histogram's counters:
 * bad = `<histogram>_count` − `<histogram>_bucket{le="<maxSeconds>"}`. */
export interface LatencyCheck extends CounterCheckJudging {
  /** The histogram's metric name without a suffix, e.g. traefik_service_request_duration_seconds. */
  histogram: string;
  /** Label matchers selecting one arm's series, with {{variables}}, e.g. service=~"{{namespace}}-{{service}}-.*". */
  selector: string;
  /** The latency a request may take; must be one of the histogram's bucket bounds. */
  maxSeconds: number;
}

/** Any PromQL giving one number (for the canary: {{service}} is the canary's Service), held
 * against max and/or min each interval, Argo Rollouts/Flagger-style. */
export interface QueryCheck {
  query: string;
  max?: number;
  min?: number;
  /** Intervals out of bounds tolerated; one more fails the canary. */
  failureLimit?: number;
}

export type StopAction = "Abort" | "Pause";

/** A key of a Secret in the policy's namespace. Credentials are only ever referenced, never inline. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface PrometheusSpec {
  /** Base URL, with any path prefix (Thanos, Mimir: https://mimir.example/prometheus). */
  address: string;
  /** Extra request headers (Mimir/Cortex X-Scope-OrgID, …), each a value or a Secret key. */
  headers?: Array<{ name: string; value?: string; secretKeyRef?: SecretKeyRef }>;
  /** At most one of bearer and basic. */
  auth?: {
    bearer?: { secretKeyRef: SecretKeyRef };
    basic?: { secretName: string; usernameKey?: string; passwordKey?: string };
  };
  tls?: {
    /** PEM CA bundle that signs the server's certificate. */
    caSecretKeyRef?: SecretKeyRef;
    /** A kubernetes.io/tls Secret (tls.crt, tls.key) for client-certificate authentication. */
    clientCertSecretName?: string;
    /** The name to check the server's certificate against, when it differs from the address. */
    serverName?: string;
    insecureSkipVerify?: boolean;
  };
}

/** The error-rate check of earlier versions: a ratio check with `requests` as total and `errors` as bad. */
export interface ErrorRateCheck extends CounterCheckJudging {
  /** PromQL giving request COUNTERS (not rates) for one arm; {{service}} is that arm's Service. */
  requests: string;
  /** PromQL giving error COUNTERS for one arm. */
  errors: string;
  noTraffic?: { timeout?: string; action?: StopAction };
}

/** Exactly one judge. */
export interface JudgeSpec {
  threshold?: ThresholdJudgeSpec;
  sequential?: SequentialJudgeSpec;
}

export interface SequentialJudgeSpec {
  /** False-rollback probability for the whole rollout, divided among the analysed steps. */
  alpha?: number;
  /** Probability of promoting a canary that is relativeRisk× worse than stable. */
  beta?: number;
  /** Smallest relative risk (canary/stable error rate) that must not be promoted. Leave it
   * out to test a mixture over 1.5, 2, 3, 5 and 10 instead. */
  relativeRisk?: number;
  /** The test may not accept a step before this. */
  minStepDuration?: string;
  /** A step still undecided after this passes if it was never rejected and saw minRequests. */
  maxStepDuration?: string;
}

export interface ThresholdJudgeSpec {
  /** Highest acceptable canary error ratio in one interval, 0–1. */
  maxErrorRate: number;
  /** The check fails when more intervals than this have been over the limit (as Argo Rollouts counts). */
  failureLimit?: number;
}
