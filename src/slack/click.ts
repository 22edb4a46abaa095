// A click on an approval message, as pure logic: read the block_actions payload, then decide
// whether it may close the gate. The rules (slack.md): the clicking user must be an approver
// (by user id, or through a listed user group), and the button's token must be the token of the
// gate pending NOW on that Rollout: an old message, a replayed request, a superseded or already
// decided gate all name a token that is not pending any more. A refusal changes nothing.
import type { Rollout, RolloutStatus } from "../api/types.js";
import { APPROVE_ACTION, type GateButtonValue, REJECT_ACTION } from "./gate-buttons.js";

export interface GateClick {
  verdict: "Approved" | "Rejected";
  userId: string;
  userName: string;
  target: GateButtonValue;
  /** Where an ephemeral answer to the clicking user goes. */
  responseUrl?: string;
}

export type ParsedInteraction = { click: GateClick } | { ignored: string };

export function parseInteraction(payload: unknown): ParsedInteraction {
  const p = payload as {
    type?: string;
    user?: { id?: string; username?: string; name?: string };
    actions?: Array<{ action_id?: string; value?: string }>;
    response_url?: string;
  };
  if (p?.type !== "block_actions") return { ignored: `interaction type ${String(p?.type)} is not a button click` };
  const action = p.actions?.find((a) => a.action_id === APPROVE_ACTION || a.action_id === REJECT_ACTION);
  if (!action) return { ignored: "no Fledge button in the click" };
  if (!p.user?.id) return { ignored: "the click names no user" };
  let target: GateButtonValue;
  try {
    target = JSON.parse(action.value ?? "") as GateButtonValue;
  } catch {
    return { ignored: "the button value is not Fledge's" };
  }
  if (typeof target?.namespace !== "string" || typeof target.name !== "string" || typeof target.token !== "string")
    return { ignored: "the button value is not Fledge's" };
  return {
    click: {
      verdict: action.action_id === APPROVE_ACTION ? "Approved" : "Rejected",
      userId: p.user.id,
      userName: p.user.username ?? p.user.name ?? p.user.id,
      target,
      ...(p.response_url ? { responseUrl: p.response_url } : {}),
    },
  };
}

/** Where this operator acts: its cluster name and the namespaces it watches. */
export interface OperatorScope {
  cluster: string;
  manages: (namespace: string) => boolean;
}

/** Why a click is not this operator's to judge (another cluster's, or an unwatched namespace), if it is not. */
export function outOfScope(click: GateClick, scope: OperatorScope): string | undefined {
  const { cluster, namespace, name } = click.target;
  if (cluster !== undefined && cluster !== scope.cluster)
    return `This button belongs to cluster ${cluster}, but reached the operator of cluster ${scope.cluster}: give each cluster its own Slack app (or Request URL).`;
  if (!scope.manages(namespace)) return `Rollout ${namespace}/${name} is not in a namespace this operator watches.`;
  return undefined;
}

/** The user-group ids (S…) among the approvers of the gate the click names, if that gate is pending. */
export function approverGroups(rollout: Rollout | undefined, click: GateClick): string[] {
  const gate = rollout?.status?.approval;
  if (!rollout || gate?.token !== click.target.token) return [];
  const approvers = rollout.spec.strategy.canary.steps[gate.step]?.approval?.approvers ?? [];
  return approvers.filter((a) => a.startsWith("S"));
}

export type ClickJudgement = { accepted: true; status: RolloutStatus; decidedBy: string } | { accepted: false; reason: string };

/**
 * @param groupsOfUser the listed user groups the clicking user belongs to (looked up by the caller).
 */
export function judgeClick(rollout: Rollout | undefined, click: GateClick, groupsOfUser: string[], now: Date): ClickJudgement {
  const { namespace, name } = click.target;
  if (!rollout) return { accepted: false, reason: `Rollout ${namespace}/${name} does not exist any more.` };
  const status = rollout.status ?? {};
  const gate = status.approval;
  const subject = `Rollout ${namespace}/${name}`;
  if (!gate || gate.token !== click.target.token)
    return { accepted: false, reason: `This approval request of ${subject} is no longer pending (a newer request replaced it).` };
  if (gate.decision !== undefined)
    return {
      accepted: false,
      reason: `This approval request of ${subject} is closed: ${gate.decision}${gate.decidedBy ? ` by ${gate.decidedBy}` : ""}.`,
    };
  if (status.canaryRevision !== gate.revision || status.currentStep !== gate.step)
    return { accepted: false, reason: `This approval request of ${subject} is no longer pending: the rollout moved on.` };
  const approvers = rollout.spec.strategy.canary.steps[gate.step]?.approval?.approvers ?? [];
  const allowed = approvers.length === 0 || approvers.includes(click.userId) || groupsOfUser.some((g) => approvers.includes(g));
  if (!allowed)
    return {
      accepted: false,
      reason: `You (${click.userId}) are not an approver of step ${gate.step + 1} of ${subject}. Approvers: ${approvers.join(", ")}.`,
    };
  const decidedBy = `${click.userName} (${click.userId}) in Slack`;
  return {
    accepted: true,
    decidedBy,
    status: { ...status, approval: { ...gate, decision: click.verdict, decidedBy, decidedAt: now.toISOString() } },
  };
}
