// The approval message of a gate, kept in step with the gate: posted when the gate opens
// (its address recorded in status with a JSON Patch guarded by the token), and its buttons
// replaced by the outcome once the gate is decided, superseded or aborted — also for a gate
// that was replaced before its message was updated (status.approval.previousMessage).
import type { Rollout } from "../api/types.js";
import type { JsonPatchOp } from "../kube/client.js";
import { type DeliveryTools, keyOf, slackError } from "./delivery-tools.js";
import { approvalOutcomeMessage, approvalRequestMessage } from "./slack-messages.js";

export class GateMessages {
  /** Gate messages posted by this process, by token: a cache that lags our own patch must not post twice. */
  private readonly postedGates = new Map<string, { channel: string; ts: string }>();

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
  async gateMessage(rollout: Rollout): Promise<{ rollout: Rollout; owed: boolean }> {
    const gate = rollout.status?.approval;
    const channel = gate ? rollout.spec.strategy.canary.steps[gate.step]?.approval?.slack?.channel : undefined;
    if (!gate || !channel) return { rollout, owed: false };
    const tokenTest: JsonPatchOp = { op: "test", path: "/status/approval/token", value: gate.token };
    const cluster = this.t.cluster;

    if (!gate.slack) {
      const ours = this.postedGates.get(gate.token);
      if (gate.decision !== undefined) {
        // Decided before our record of the message landed: still replace its buttons.
        if (!ours) return { rollout, owed: false };
        const slack = this.t.slack();
        if (!slack) return { rollout, owed: true };
        const outcome = approvalOutcomeMessage(rollout, { ...gate, decision: gate.decision }, cluster);
        try {
          await slack.updateMessage(ours.channel, ours.ts, outcome.text, outcome.blocks);
        } catch (err) {
          this.t.count("slack", "failed");
          this.t.report(rollout, "SlackUpdateFailed", `approval message ${ours.ts} not updated: ${slackError(err)}`);
          return { rollout, owed: true };
        }
        this.t.count("slack", "delivered");
        this.postedGates.delete(gate.token);
        return { rollout, owed: false };
      }
      if (gate.revision !== rollout.status?.canaryRevision) return { rollout, owed: false };
      let posted = ours;
      if (!posted) {
        const slack = this.t.slack();
        if (!slack) {
          this.t.report(
            rollout,
            "SlackUnavailable",
            "the approval message not sent: the operator has no usable Slack Secret (see its log)",
          );
          return { rollout, owed: true };
        }
        const message = approvalRequestMessage(rollout, gate, cluster);
        try {
          posted = await slack.postMessage(channel, message.text, message.blocks);
        } catch (err) {
          this.t.count("slack", "failed");
          this.t.report(
            rollout,
            "SlackPostFailed",
            `approval message for step ${gate.step + 1} not posted to ${channel}: ${slackError(err)}; the gate stays pending ('fledge approve|reject' works) and posting is retried`,
          );
          return { rollout, owed: true };
        }
        this.t.count("slack", "delivered");
        this.postedGates.set(gate.token, posted);
        this.t.log.info("approval message posted", { rollout: keyOf(rollout), channel: posted.channel, ts: posted.ts });
      }
      const updated = await this.t.kube.patchRolloutStatus(rollout, [
        tokenTest,
        { op: "add", path: "/status/approval/slack", value: { channel: posted.channel, ts: posted.ts } },
      ]);
      return { rollout: updated, owed: false };
    }

    if (gate.decision === undefined || gate.slack.shown === gate.decision) return { rollout, owed: false };
    const slack = this.t.slack();
    if (!slack) return { rollout, owed: true };
    const outcome = approvalOutcomeMessage(rollout, { ...gate, decision: gate.decision }, cluster);
    try {
      await slack.updateMessage(gate.slack.channel, gate.slack.ts, outcome.text, outcome.blocks);
    } catch (err) {
      this.t.count("slack", "failed");
      this.t.report(rollout, "SlackUpdateFailed", `approval message ${gate.slack.ts} not updated: ${slackError(err)}`);
      return { rollout, owed: true };
    }
    this.t.count("slack", "delivered");
    this.postedGates.delete(gate.token);
    const updated = await this.t.kube.patchRolloutStatus(rollout, [
      tokenTest,
      { op: "add", path: "/status/approval/slack/shown", value: gate.decision },
    ]);
    return { rollout: updated, owed: false };
  }

  /** The message of a gate replaced before its message showed the outcome. */
  async previousMessage(rollout: Rollout): Promise<{ rollout: Rollout; owed: boolean }> {
    const previous = rollout.status?.approval?.previousMessage;
    if (!previous) return { rollout, owed: false };
    const slack = this.t.slack();
    if (!slack) return { rollout, owed: true };
    const outcome = approvalOutcomeMessage(rollout, previous, this.t.cluster);
    try {
      await slack.updateMessage(previous.channel, previous.ts, outcome.text, outcome.blocks);
    } catch (err) {
      this.t.count("slack", "failed");
      this.t.report(rollout, "SlackUpdateFailed", `approval message ${previous.ts} not updated: ${slackError(err)}`);
      return { rollout, owed: true };
    }
    this.t.count("slack", "delivered");
    const updated = await this.t.kube.patchRolloutStatus(rollout, [
      { op: "test", path: "/status/approval/previousMessage/ts", value: previous.ts },
      { op: "remove", path: "/status/approval/previousMessage" },
    ]);
    return { rollout: updated, owed: false };
  }
}
