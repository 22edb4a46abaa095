// The approval message of a gate, kept in step with the gate: posted when the gate opens
// (its address recorded in status with a JSON Patch guarded by the token), and its buttons
// replaced by the outcome once the gate is decided, superseded or aborted — also for a gate
// that was replaced before its message was updated (status.approval.previousMessage).
import type { ApprovalStatus, Rollout } from "../api/types.js";
import type { JsonPatchOp } from "../kube/client.js";
import { type DeliveryTools, keyOf, slackError } from "./delivery-tools.js";
import { approvalOutcomeMessage, approvalRequestMessage, type ClosedGate } from "./slack-messages.js";

type Step = { rollout: Rollout; owed: boolean };
type MessageAddress = { channel: string; ts: string };

export class GateMessages {
  /** Gate messages posted by this process, by token: a cache that lags our own patch must not post twice. */
  private readonly postedGates = new Map<string, MessageAddress>();

  constructor(private readonly t: DeliveryTools) {}

  /** Whether status says a gate message is still to be posted or updated. */
  owes(rollout: Rollout): boolean {
    const gate = rollout.status?.approval;
    if (gate?.previousMessage) return true;
    if (!gate || !rollout.spec.strategy.canary.steps[gate.step]?.approval?.slack) return false;
    if (!gate.slack) return gate.decision === undefined || this.postedGates.has(gate.token);
    return gate.decision !== undefined && gate.slack.shown !== gate.decision;
  }

  /** Posts the message of a pending gate, or shows a decided gate's outcome on it. */
  async gateMessage(rollout: Rollout): Promise<Step> {
    const gate = rollout.status?.approval;
    const channel = gate ? rollout.spec.strategy.canary.steps[gate.step]?.approval?.slack?.channel : undefined;
    if (!gate || !channel) return { rollout, owed: false };
    const tokenTest: JsonPatchOp = { op: "test", path: "/status/approval/token", value: gate.token };
    const ours = this.postedGates.get(gate.token);

    if (gate.decision !== undefined) {
      // Decided: the message (recorded in status, or posted by us before that record landed) shows the outcome.
      const message = gate.slack ?? ours;
      if (!message || gate.slack?.shown === gate.decision) return { rollout, owed: false };
      if (!(await this.showOutcome(rollout, message, { ...gate, decision: gate.decision }))) return { rollout, owed: true };
      this.postedGates.delete(gate.token);
      if (!gate.slack) return { rollout, owed: false };
      const updated = await this.t.kube.patchRolloutStatus(rollout, [
        tokenTest,
        { op: "add", path: "/status/approval/slack/shown", value: gate.decision },
      ]);
      return { rollout: updated, owed: false };
    }

    if (gate.slack || gate.revision !== rollout.status?.canaryRevision) return { rollout, owed: false };
    const posted = ours ?? (await this.post(rollout, gate, channel));
    if (!posted) return { rollout, owed: true };
    const updated = await this.t.kube.patchRolloutStatus(rollout, [
      tokenTest,
      { op: "add", path: "/status/approval/slack", value: { channel: posted.channel, ts: posted.ts } },
    ]);
    return { rollout: updated, owed: false };
  }

  /** The message of a gate replaced before its message showed the outcome. */
  async previousMessage(rollout: Rollout): Promise<Step> {
    const previous = rollout.status?.approval?.previousMessage;
    if (!previous) return { rollout, owed: false };
    if (!(await this.showOutcome(rollout, previous, previous))) return { rollout, owed: true };
    const updated = await this.t.kube.patchRolloutStatus(rollout, [
      { op: "test", path: "/status/approval/previousMessage/ts", value: previous.ts },
      { op: "remove", path: "/status/approval/previousMessage" },
    ]);
    return { rollout: updated, owed: false };
  }

  /** Posts the approval request; undefined when it could not be (said once as a Warning). */
  private async post(rollout: Rollout, gate: ApprovalStatus, channel: string): Promise<MessageAddress | undefined> {
    const slack = this.t.slack();
    if (!slack) {
      this.t.report(
        rollout,
        "SlackUnavailable",
        "the approval message was not sent: the operator has no usable Slack Secret (see its log)",
      );
      return undefined;
    }
    const message = approvalRequestMessage(rollout, gate, this.t.cluster);
    try {
      const posted = await slack.postMessage(channel, message.text, message.blocks);
      this.t.count("slack", "delivered");
      this.postedGates.set(gate.token, posted);
      this.t.log.info("approval message posted", { rollout: keyOf(rollout), channel: posted.channel, ts: posted.ts });
      return posted;
    } catch (err) {
      this.t.count("slack", "failed");
      this.t.report(
        rollout,
        "SlackPostFailed",
        `approval message for step ${gate.step + 1} not posted to ${channel}: ${slackError(err)}; the gate stays pending ('fledge approve|reject' works) and posting is retried`,
      );
      return undefined;
    }
  }

  /** Replaces a message's buttons with the gate's outcome; false when Slack did not take it. */
  private async showOutcome(rollout: Rollout, message: MessageAddress, gate: ClosedGate): Promise<boolean> {
    const slack = this.t.slack();
    if (!slack) return false;
    const outcome = approvalOutcomeMessage(rollout, gate, this.t.cluster);
    try {
      await slack.updateMessage(message.channel, message.ts, outcome.text, outcome.blocks);
    } catch (err) {
      this.t.count("slack", "failed");
      this.t.report(rollout, "SlackUpdateFailed", `approval message ${message.ts} not updated: ${slackError(err)}`);
      return false;
    }
    this.t.count("slack", "delivered");
    return true;
  }
}
