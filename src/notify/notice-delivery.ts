// Delivers the lifecycle notices of status.notifications.outbox, oldest first: to the
// CloudEvents sink (bounded retries inside the sink) and to the Rollout's Slack channel (the
// revision's thread; its ts recorded in status). Each notice leaves the outbox by a JSON Patch
// guarded by a test on its id, so a notice is removed once, after it was sent.
import type { Rollout } from "../api/types.js";
import type { JsonPatchOp } from "../kube/client.js";
import { type CloudEventsSink, cloudEventFor } from "./cloudevents.js";
import { type DeliveryTools, keyOf, remember, slackError } from "./delivery-tools.js";
import { lifecycleMessage } from "./slack-messages.js";

/** A notice Slack keeps refusing is given up after this many attempts (and logged). */
const MAX_NOTICE_ATTEMPTS = 6;

export class NoticeDelivery {
  /** Notices already sent to the CloudEvents sink (or given up), by id. */
  private readonly cloudEventsDone = new Set<string>();
  /** Notices already posted to Slack by this process, by id: the cache may still list them in the outbox. */
  private readonly slackDone = new Map<string, { channel: string; ts: string }>();

  constructor(
    private readonly t: DeliveryTools,
    private readonly sink: CloudEventsSink | undefined,
    private readonly slackEnabled: boolean,
  ) {}

  owes(rollout: Rollout): boolean {
    return (rollout.status?.notifications?.outbox?.length ?? 0) > 0;
  }

  /** Delivers the outbox in order; true when some notice is still owed. */
  async deliver(start: Rollout): Promise<boolean> {
    let rollout = start;
    for (;;) {
      const notice = rollout.status?.notifications?.outbox?.[0];
      if (!notice) return false;
      const idTest: JsonPatchOp = { op: "test", path: "/status/notifications/outbox/0/id", value: notice.id };
      const sink = this.sink;
      if (sink && !this.cloudEventsDone.has(notice.id)) {
        try {
          await sink.send(cloudEventFor(rollout, notice, this.t.cluster));
          this.t.count("cloudevents", "delivered");
        } catch (err) {
          this.t.count("cloudevents", "dropped");
          this.t.log.error("CloudEvent given up after bounded retries", {
            rollout: keyOf(rollout),
            id: notice.id,
            kind: notice.kind,
            error: (err as Error).message,
          });
        }
        remember(this.cloudEventsDone, notice.id);
      }
      const ops: JsonPatchOp[] = [idTest, { op: "remove", path: "/status/notifications/outbox/0" }];
      const channel = this.slackEnabled ? rollout.spec.notifications?.slack?.channel : undefined;
      if (channel) {
        const thread = rollout.status?.notifications;
        const threadTs = thread?.revision === notice.revision && thread.channel === channel ? thread.threadTs : undefined;
        const message = lifecycleMessage(rollout, notice, this.t.cluster);
        const slack = this.t.slack();
        let posted = this.slackDone.get(notice.id);
        let failure: string | undefined;
        if (posted) {
          // Posted already; only its removal from the outbox (a stale cache still shows it) is left.
        } else if (slack) {
          try {
            posted = await slack.postMessage(channel, message.text, message.blocks, threadTs);
            this.t.count("slack", "delivered");
            remember(this.slackDone, notice.id, posted);
          } catch (err) {
            this.t.count("slack", "failed");
            failure = slackError(err);
          }
        } else {
          failure = "no usable Slack Secret";
          this.t.report(
            rollout,
            "SlackUnavailable",
            `the ${notice.kind} notice not sent: the operator has no usable Slack Secret (see its log)`,
          );
        }
        if (!posted) {
          const attempts = (notice.attempts ?? 0) + 1;
          if (attempts < MAX_NOTICE_ATTEMPTS) {
            this.t.log.warn("lifecycle notice not delivered to Slack; retrying", {
              rollout: keyOf(rollout),
              kind: notice.kind,
              attempts,
              error: failure,
            });
            await this.t.kube.patchRolloutStatus(rollout, [
              idTest,
              { op: "add", path: "/status/notifications/outbox/0/attempts", value: attempts },
            ]);
            return true;
          }
          this.t.count("slack", "dropped");
          this.t.report(rollout, "NotificationDropped", `${notice.kind} notice given up after ${attempts} attempts: ${failure}`);
        } else if (!threadTs) {
          ops.push(
            { op: "add", path: "/status/notifications/revision", value: notice.revision },
            { op: "add", path: "/status/notifications/channel", value: posted.channel },
            { op: "add", path: "/status/notifications/threadTs", value: posted.ts },
          );
        }
      }
      rollout = await this.t.kube.patchRolloutStatus(rollout, ops);
    }
  }
}
