// The Slack messages Fledge posts, as pure functions of the Rollout: the approval request
// (Block Kit with Approve / Reject buttons and confirm dialogs), the same message once decided
// (buttons replaced by the outcome, so nobody clicks a closed gate), and the lifecycle notices
// of a revision's thread. Every message names the cluster: one channel often serves many.

import { analysisFigures } from "../analysis/figures.js";
import type { ApprovalStatus, GateDecision, LifecycleKind, LifecycleNotice, Rollout } from "../api/types.js";
import { APPROVE_ACTION, type GateButtonValue, REJECT_ACTION } from "../slack/gate-buttons.js";

export interface SlackMessage {
  /** Fallback text for notifications and clients without blocks. */
  text: string;
  blocks?: unknown[];
}

const plain = (text: string) => ({ type: "plain_text", text: text.slice(0, 150), emoji: true });
const mrkdwn = (text: string) => ({ type: "mrkdwn", text: text.slice(0, 3000) });
/** Slack mrkdwn treats &, < and > as markup. */
const escapeMrkdwn = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function mention(id: string): string {
  return id.startsWith("S") ? `<!subteam^${id}>` : `<@${id}>`;
}

function gateFields(rollout: Rollout, gate: Pick<ApprovalStatus, "revision" | "step">, cluster: string) {
  const status = rollout.status ?? {};
  const steps = rollout.spec.strategy.canary.steps;
  return {
    type: "section",
    fields: [
      mrkdwn(`*Rollout*\n${escapeMrkdwn(`${rollout.metadata.namespace}/${rollout.metadata.name}`)}`),
      mrkdwn(`*Cluster*\n${escapeMrkdwn(cluster)}`),
      mrkdwn(`*Revision*\n\`${gate.revision}\` (stable \`${status.stableRevision ?? "?"}\`)`),
      mrkdwn(`*Step*\n${gate.step + 1} of ${steps.length}, canary weight ${status.canaryWeight ?? 0} %`),
    ],
  };
}

export function approvalRequestMessage(rollout: Rollout, gate: ApprovalStatus, cluster: string): SlackMessage {
  const name = rollout.metadata.name ?? "";
  const namespace = rollout.metadata.namespace ?? "";
  const spec = rollout.spec.strategy.canary.steps[gate.step]?.approval ?? {};
  const figures = analysisFigures(rollout.status?.analysis);
  const value: GateButtonValue = { namespace, name, token: gate.token, cluster };
  const confirm = (title: string, verb: string) => ({
    title: plain(title),
    text: mrkdwn(`${verb} revision \`${gate.revision}\` of ${escapeMrkdwn(`${namespace}/${name}`)} in ${escapeMrkdwn(cluster)}?`),
    confirm: plain(verb),
    deny: plain("Cancel"),
  });
  const approvers = spec.approvers?.length ? spec.approvers.map(mention).join(", ") : "anyone in this channel";
  const timeout = spec.timeout ?? "1h";
  const onTimeout = (spec.onTimeout ?? "Abort") === "Abort" ? "rolled back" : "held until promoted or aborted";
  return {
    text: `Approval needed: ${namespace}/${name} revision ${gate.revision}, step ${gate.step + 1} (cluster ${cluster})`,
    blocks: [
      { type: "header", text: plain(`Approve ${name} revision ${gate.revision}?`) },
      gateFields(rollout, gate, cluster),
      { type: "section", text: mrkdwn(`*Analysis so far*\n${escapeMrkdwn(figures ?? "no analysis for this rollout")}`) },
      {
        type: "context",
        elements: [
          mrkdwn(
            `Who may decide: ${approvers}. Without an answer within ${timeout} the canary is ${onTimeout}. ` +
              `Without Slack: \`fledge approve ${name} -n ${namespace}\` or \`fledge reject ${name} -n ${namespace}\`.`,
          ),
        ],
      },
      {
        type: "actions",
        block_id: `fledge-gate-${gate.token}`.slice(0, 255),
        elements: [
          {
            type: "button",
            action_id: APPROVE_ACTION,
            text: plain("Approve"),
            style: "primary",
            value: JSON.stringify(value),
            confirm: confirm("Approve this canary?", "Approve"),
          },
          {
            type: "button",
            action_id: REJECT_ACTION,
            text: plain("Reject"),
            style: "danger",
            value: JSON.stringify(value),
            confirm: confirm("Reject this canary?", "Reject"),
          },
        ],
      },
    ],
  };
}

export interface ClosedGate {
  revision: string;
  step: number;
  decision: GateDecision;
  decidedBy?: string;
  decidedAt?: string;
}

export function outcomeLine(gate: ClosedGate): string {
  const by = gate.decidedBy ? ` by ${gate.decidedBy}` : "";
  switch (gate.decision) {
    case "Approved":
      return `:white_check_mark: Approved${by}: the canary goes on.`;
    case "Rejected":
      return `:x: Rejected${by}: the canary is rolled back.`;
    case "TimedOut":
      return ":hourglass: Nobody decided in time: the canary is rolled back.";
    case "Superseded":
      return `:fast_forward: No longer pending: superseded by ${gate.decidedBy ?? "a newer revision"}.`;
    case "Aborted":
      return `:stop_sign: No longer pending: the canary was rolled back (${gate.decidedBy ?? "aborted"}) before a decision.`;
  }
}

/** The approval message once the gate is closed: same facts, the buttons replaced by the outcome. */
export function approvalOutcomeMessage(rollout: Rollout, gate: ClosedGate, cluster: string): SlackMessage {
  const name = rollout.metadata.name ?? "";
  const when = gate.decidedAt ? ` (${gate.decidedAt})` : "";
  return {
    text: `${rollout.metadata.namespace}/${name} revision ${gate.revision}, step ${gate.step + 1}: ${gate.decision} (cluster ${cluster})`,
    blocks: [
      { type: "header", text: plain(`${name} revision ${gate.revision}: ${gate.decision}`) },
      gateFields(rollout, gate, cluster),
      { type: "section", text: mrkdwn(escapeMrkdwn(outcomeLine(gate)) + when) },
    ],
  };
}

const TITLES: Record<LifecycleKind, string> = {
  CanaryStarted: ":hatching_chick: Canary started",
  ApprovalRequested: ":raising_hand: Approval requested",
  Approved: ":white_check_mark: Approved",
  Rejected: ":x: Rejected",
  Promoted: ":rocket: Promoted",
  RolledBack: ":rewind: Rolled back",
  DeadlineExceeded: ":alarm_clock: Progress deadline exceeded, rolled back",
};

/** One lifecycle notice; the first of a revision starts its thread. */
export function lifecycleMessage(rollout: Rollout, notice: LifecycleNotice, cluster: string): SlackMessage {
  const subject = `${rollout.metadata.namespace}/${rollout.metadata.name} revision ${notice.revision}`;
  const lines = [`*${TITLES[notice.kind]}*: ${escapeMrkdwn(subject)} [${escapeMrkdwn(cluster)}]`, escapeMrkdwn(notice.message)];
  if (notice.check) lines.push(`_Decided by check_: ${escapeMrkdwn(notice.check)}`);
  if (notice.figures) lines.push(`_Analysis_: ${escapeMrkdwn(notice.figures)}`);
  return {
    text: `[${cluster}] ${subject}: ${notice.kind}. ${notice.message}`,
    blocks: [{ type: "section", text: mrkdwn(lines.join("\n")) }],
  };
}
