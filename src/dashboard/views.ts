// What the dashboard shows, as plain data built from a Rollout and its Events (pure). The web
// page (web/dashboard/) draws these; the server (src/dashboard/server.ts) only sends them.
import { parseDuration } from "../api/duration.js";
import type { CanaryStep, Condition, EvidenceTrace, Rollout } from "../api/types.js";

export interface ApprovalView {
  step: number;
  revision: string;
  requestedAt: string;
  /** When the gate times out (absent: it waits for ever). */
  deadline?: string;
  onTimeout?: string;
  /** Slack ids allowed to decide in Slack; in the dashboard and the CLI, whoever may patch the Rollout. */
  approvers: string[];
  decision?: string;
  decidedBy?: string;
  decidedAt?: string;
  /** A link to the approval message in Slack (team-agnostic archives URL). */
  slackLink?: string;
}

export interface RolloutRow {
  namespace: string;
  name: string;
  phase: string;
  message: string;
  /** 1-based step being run, of how many (absent: no canary running). */
  step?: { index: number; total: number; kind: string };
  weight: number;
  stableRevision?: string;
  canaryRevision?: string;
  createdAt?: string;
  /** An approval gate waiting for a decision now. */
  waitingForApproval?: ApprovalView;
}

export interface StepView {
  index: number;
  kind: string;
  text: string;
  state: "done" | "current" | "pending";
}

export interface CheckView {
  name: string;
  kind: string;
  decision?: string;
  reason?: string;
  explanation?: string;
  canary?: { requests: number; errors: number };
  stable?: { requests: number; errors: number };
  value?: number;
  evidence?: EvidenceTrace;
}

export interface EventView {
  type: string;
  reason: string;
  message: string;
  at: string;
  count: number;
}

export interface RolloutDetail extends RolloutRow {
  steps: StepView[];
  conditions: Condition[];
  analysis?: {
    revision: string;
    policy?: string;
    decision?: string;
    explanation?: string;
    startedAt: string;
    decidedAt?: string;
    checks: CheckView[];
  };
  approval?: ApprovalView;
  lastAction?: { kind: string; outcome: string; message: string; at: string };
  events: EventView[];
  /** Revisions promoted or rolled back, newest first (from the Rollout's Events). */
  history: Array<{ at: string; outcome: "Promoted" | "RolledBack"; message: string }>;
  /** What the page's buttons would do now; the server checks them again on each request. */
  actions: ActionName[];
}

export type ActionName = "promote" | "promote-full" | "abort" | "retry" | "approve" | "reject";

function stepText(step: CanaryStep): { kind: string; text: string } {
  if (step.setWeight !== undefined) return { kind: "setWeight", text: `weight ${step.setWeight} %` };
  if (step.pause) return { kind: "pause", text: step.pause.duration ? `pause ${step.pause.duration}` : "pause until promoted" };
  if (step.approval) return { kind: "approval", text: `approval${step.approval.timeout ? ` (timeout ${step.approval.timeout})` : ""}` };
  if (step.setHeaderRoute)
    return {
      kind: "setHeaderRoute",
      text: step.setHeaderRoute.match ? `preview route ${step.setHeaderRoute.name}` : "remove preview route",
    };
  if (step.setCanaryScale) {
    const s = step.setCanaryScale;
    const text =
      s.replicas !== undefined
        ? `${s.replicas} canary pods`
        : s.weight !== undefined
          ? `canary at ${s.weight} % of stable`
          : "canary follows weight";
    return { kind: "setCanaryScale", text };
  }
  return { kind: "unknown", text: "?" };
}

function approvalOf(r: Rollout): ApprovalView | undefined {
  const a = r.status?.approval;
  if (!a) return undefined;
  const step = r.spec.strategy.canary.steps[a.step]?.approval;
  const timeoutMs = step?.timeout ? parseDuration(step.timeout) : undefined;
  return {
    step: a.step + 1,
    revision: a.revision,
    requestedAt: a.requestedAt,
    ...(timeoutMs !== undefined ? { deadline: new Date(Date.parse(a.requestedAt) + timeoutMs).toISOString() } : {}),
    ...(step?.onTimeout ? { onTimeout: step.onTimeout } : {}),
    approvers: step?.approvers ?? [],
    ...(a.decision ? { decision: a.decision } : {}),
    ...(a.decidedBy ? { decidedBy: a.decidedBy } : {}),
    ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
    ...(a.slack ? { slackLink: `https://slack.com/archives/${a.slack.channel}/p${a.slack.ts.replace(".", "")}` } : {}),
  };
}

export function rowOf(r: Rollout): RolloutRow {
  const s = r.status ?? {};
  const steps = r.spec.strategy.canary.steps;
  const running = s.canaryRevision !== undefined && s.currentStep !== undefined;
  const current = running ? steps[s.currentStep ?? 0] : undefined;
  const approval = approvalOf(r);
  const waiting =
    approval && !approval.decision && s.canaryRevision === approval.revision && s.currentStep === approval.step - 1 ? approval : undefined;
  return {
    namespace: r.metadata.namespace ?? "",
    name: r.metadata.name ?? "",
    phase: s.phase ?? "",
    message: s.message ?? "",
    ...(running
      ? {
          step: {
            index: Math.min((s.currentStep ?? 0) + 1, steps.length),
            total: steps.length,
            kind: current ? stepText(current).kind : "done",
          },
        }
      : {}),
    weight: s.canaryWeight ?? 0,
    ...(s.stableRevision ? { stableRevision: s.stableRevision } : {}),
    ...(s.canaryRevision ? { canaryRevision: s.canaryRevision } : {}),
    ...(r.metadata.creationTimestamp ? { createdAt: new Date(r.metadata.creationTimestamp).toISOString() } : {}),
    ...(waiting ? { waitingForApproval: waiting } : {}),
  };
}

/** The actions that make sense now; the operator still decides (and says why it ignored one). */
export function actionsFor(r: Rollout): ActionName[] {
  const s = r.status ?? {};
  const row = rowOf(r);
  const actions: ActionName[] = [];
  const canary = s.canaryRevision !== undefined && s.phase !== "Degraded";
  if (canary) actions.push("promote", "promote-full", "abort");
  if (row.waitingForApproval) actions.push("approve", "reject");
  if (s.phase === "Degraded" || s.rolledBackRevision) actions.push("retry");
  return actions;
}

export function detailOf(r: Rollout, events: EventView[]): RolloutDetail {
  const s = r.status ?? {};
  const steps = r.spec.strategy.canary.steps;
  const running = s.canaryRevision !== undefined;
  const analysis = s.analysis;
  const history = events
    .filter((e) => e.reason === "Promoted" || e.reason === "RolledBack")
    .map((e) => ({ at: e.at, outcome: e.reason as "Promoted" | "RolledBack", message: e.message }))
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const approval = approvalOf(r);
  return {
    ...rowOf(r),
    steps: steps.map((step, i) => ({
      index: i + 1,
      ...stepText(step),
      state: !running ? "pending" : i < (s.currentStep ?? 0) ? "done" : i === s.currentStep ? "current" : "pending",
    })),
    conditions: s.conditions ?? [],
    ...(analysis
      ? {
          analysis: {
            revision: analysis.revision,
            ...(r.spec.analysis?.policy ? { policy: r.spec.analysis.policy } : {}),
            ...(analysis.decision ? { decision: analysis.decision } : {}),
            ...(analysis.explanation ? { explanation: analysis.explanation } : {}),
            startedAt: analysis.startedAt,
            checks: (analysis.checks ?? []).map((c) => ({
              name: c.name,
              kind: c.kind,
              ...(c.decision ? { decision: c.decision } : {}),
              ...(c.reason ? { reason: c.reason } : {}),
              ...(c.explanation ? { explanation: c.explanation } : {}),
              ...(c.canary ? { canary: c.canary } : {}),
              ...(c.stable ? { stable: c.stable } : {}),
              ...(c.value !== undefined ? { value: c.value } : {}),
              ...(c.evidence ? { evidence: c.evidence } : {}),
            })),
          },
        }
      : {}),
    ...(approval ? { approval } : {}),
    ...(s.lastAction
      ? { lastAction: { kind: s.lastAction.kind, outcome: s.lastAction.outcome, message: s.lastAction.message, at: s.lastAction.at } }
      : {}),
    events: [...events].sort((a, b) => Date.parse(b.at) - Date.parse(a.at)),
    history,
    actions: actionsFor(r),
  };
}
