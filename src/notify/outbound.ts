// Everything the operator sends out after a status write, driven by what status says is still
// owed: the approval message of a gate that has none yet, the update of a message whose gate
// was decided (or replaced), and the lifecycle notices in the outbox (Slack thread and
// CloudEvents). It runs beside the work queue, one run at a time per Rollout, so a slow or
// unreachable Slack never holds a reconcile or another rollout. What it did is recorded with
// JSON Patches guarded by `test` operations, so a restarted operator neither posts a gate
// message twice nor repeats a delivered notice; it only does what is left.
import type { Rollout } from "../api/types.js";
import { SlackApiError, type SlackClient } from "../gates/slack-client.js";
import { apiProblem, type JsonPatchOp, type Kube } from "../kube/client.js";
import type { Watcher } from "../kube/watcher.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { type CloudEventsSink, cloudEventFor } from "./cloudevents.js";
import { approvalOutcomeMessage, approvalRequestMessage, lifecycleMessage } from "./slack-messages.js";

export interface OutboundDeps {
  kube: Kube;
  rollouts: Watcher<Rollout>;
  /** The bot client; undefined when Slack is not configured or its Secret is missing. */
  slack: () => SlackClient | undefined;
  /** Whether the operator was started with a Slack Secret at all. */
  slackEnabled: boolean;
  cloudEvents?: CloudEventsSink;
  cluster: string;
  log: Logger;
  metrics?: Metrics;
}

/** A notice Slack keeps refusing is given up after this many attempts (and logged). */
const MAX_NOTICE_ATTEMPTS = 6;
const MAX_BACKOFF_MS = 60_000;

const keyOf = (r: Rollout) => `${r.metadata.namespace}/${r.metadata.name}`;

export class Outbound {
  private readonly running = new Map<string, { again: boolean }>();
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; failures: number }>();
  /** Gate messages posted by this process, by token: a cache that lags our own patch must not post twice. */
  private readonly postedGates = new Map<string, { channel: string; ts: string }>();
  /** Notices already sent to the CloudEvents sink (or given up), by id. */
  private readonly cloudEventsDone = new Set<string>();
  /** Notices already posted to Slack by this process, by id: the cache may still list them in the outbox. */
  private readonly slackDone = new Map<string, { channel: string; ts: string }>();
  /** Problems already recorded as an Event, so a retry loop does not flood. */
  private readonly reported = new Set<string>();
  private stopped = false;

  constructor(private readonly deps: OutboundDeps) {}

  /** Whether lifecycle notices of this Rollout go anywhere (so the reconciler queues them). */
  wantsNotices(rollout: Rollout): boolean {
    return this.deps.cloudEvents !== undefined || (this.deps.slackEnabled && rollout.spec.notifications?.slack !== undefined);
  }

  /** Something may be owed for this Rollout: look (now, or after the run in progress). */
  kick(key: string): void {
    if (this.stopped) return;
    const run = this.running.get(key);
    if (run) {
      run.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(key, state);
    void (async () => {
      try {
        do {
          state.again = false;
          const owed = await this.runOnce(key);
          const retry = this.retries.get(key);
          if (retry) clearTimeout(retry.timer);
          if (owed) this.scheduleRetry(key, (retry?.failures ?? 0) + 1);
          else this.retries.delete(key);
        } while (state.again && !this.stopped);
      } finally {
        this.running.delete(key);
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    for (const r of this.retries.values()) clearTimeout(r.timer);
  }

  private scheduleRetry(key: string, failures: number): void {
    const timer = setTimeout(() => this.kick(key), Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1)));
    timer.unref();
    this.retries.set(key, { timer, failures });
  }

  /** One pass; true when something is still owed (to be retried with backoff). */
  private async runOnce(key: string): Promise<boolean> {
    const [namespace, name] = key.split("/") as [string, string];
    const cached = this.deps.rollouts.get(name, namespace);
    if (!cached || cached.metadata.deletionTimestamp || !this.owes(cached)) return false;
    let owed = false;
    try {
      // The cache can lag our own last patch: decide from the API server's copy.
      let rollout = await this.deps.kube.getRollout(namespace, name);
      if (!rollout) return false;
      const gate = await this.gateMessage(rollout);
      rollout = gate.rollout;
      owed ||= gate.owed;
      const previous = await this.previousMessage(rollout);
      rollout = previous.rollout;
      owed ||= previous.owed;
      owed ||= await this.deliverNotices(rollout);
    } catch (err) {
      // A patch refused because status moved on (422 test failed, 409) is fine: the next watch event kicks again.
      const problem = apiProblem(err);
      if (problem.code !== 422 && problem.code !== 409) {
        this.deps.log.warn("could not record a delivery in status", { key, error: problem.message });
        return true;
      }
    }
    return owed;
  }

  /** Whether status says something is still to be sent for this Rollout. */
  private owes(rollout: Rollout): boolean {
    const status = rollout.status ?? {};
    if ((status.notifications?.outbox?.length ?? 0) > 0 || status.approval?.previousMessage) return true;
    const gate = status.approval;
    if (!gate || !rollout.spec.strategy.canary.steps[gate.step]?.approval?.slack) return false;
    if (!gate.slack) return gate.decision === undefined || this.postedGates.has(gate.token);
    return gate.decision !== undefined && gate.slack.shown !== gate.decision;
  }

  private async patch(rollout: Rollout, ops: JsonPatchOp[]): Promise<Rollout> {
    return this.deps.kube.patchRolloutStatus(rollout, ops);
  }

  private slackOrReport(rollout: Rollout, what: string): SlackClient | undefined {
    const slack = this.deps.slack();
    if (!slack) this.report(rollout, "SlackUnavailable", `${what} not sent: the operator has no usable Slack Secret (see its log)`);
    return slack;
  }

  /** Says a delivery problem once as a Warning Event on the Rollout (and in the log). */
  private report(rollout: Rollout, reason: string, message: string): void {
    const key = `${keyOf(rollout)}|${reason}|${message}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.deps.log.error(message, { rollout: keyOf(rollout), reason });
    void this.deps.kube.event(rollout, "Warning", reason, message).catch(() => undefined);
  }

  private count(sink: "slack" | "cloudevents", result: "delivered" | "failed" | "dropped"): void {
    this.deps.metrics?.deliveries.inc({ sink, result });
  }

  private slackError(err: unknown): string {
    return err instanceof SlackApiError ? `Slack answered ok:false (${err.slackError})` : (err as Error).message;
  }

  // ------------------------------------------------------------------------ the gate message

  private async gateMessage(rollout: Rollout): Promise<{ rollout: Rollout; owed: boolean }> {
    const gate = rollout.status?.approval;
    const channel = gate ? rollout.spec.strategy.canary.steps[gate.step]?.approval?.slack?.channel : undefined;
    if (!gate || !channel) return { rollout, owed: false };
    const tokenTest: JsonPatchOp = { op: "test", path: "/status/approval/token", value: gate.token };
    const cluster = this.deps.cluster;

    if (!gate.slack) {
      const ours = this.postedGates.get(gate.token);
      if (gate.decision !== undefined) {
        // Decided before our record of the message landed: still replace its buttons.
        if (!ours) return { rollout, owed: false };
        const slack = this.deps.slack();
        if (!slack) return { rollout, owed: true };
        const outcome = approvalOutcomeMessage(rollout, { ...gate, decision: gate.decision }, cluster);
        try {
          await slack.updateMessage(ours.channel, ours.ts, outcome.text, outcome.blocks);
        } catch (err) {
          this.count("slack", "failed");
          this.report(rollout, "SlackUpdateFailed", `approval message ${ours.ts} not updated: ${this.slackError(err)}`);
          return { rollout, owed: true };
        }
        this.count("slack", "delivered");
        this.postedGates.delete(gate.token);
        return { rollout, owed: false };
      }
      if (gate.revision !== rollout.status?.canaryRevision) return { rollout, owed: false };
      let posted = ours;
      if (!posted) {
        const slack = this.slackOrReport(rollout, "the approval message");
        if (!slack) return { rollout, owed: true };
        const message = approvalRequestMessage(rollout, gate, cluster);
        try {
          posted = await slack.postMessage(channel, message.text, message.blocks);
        } catch (err) {
          this.count("slack", "failed");
          this.report(
            rollout,
            "SlackPostFailed",
            `approval message for step ${gate.step + 1} not posted to ${channel}: ${this.slackError(err)}; the gate stays pending ('fledge approve|reject' works) and posting is retried`,
          );
          return { rollout, owed: true };
        }
        this.count("slack", "delivered");
        this.postedGates.set(gate.token, posted);
        this.deps.log.info("approval message posted", { rollout: keyOf(rollout), channel: posted.channel, ts: posted.ts });
      }
      const updated = await this.patch(rollout, [
        tokenTest,
        { op: "add", path: "/status/approval/slack", value: { channel: posted.channel, ts: posted.ts } },
      ]);
      return { rollout: updated, owed: false };
    }

    if (gate.decision === undefined || gate.slack.shown === gate.decision) return { rollout, owed: false };
    const slack = this.deps.slack();
    if (!slack) return { rollout, owed: true };
    const outcome = approvalOutcomeMessage(rollout, { ...gate, decision: gate.decision }, cluster);
    try {
      await slack.updateMessage(gate.slack.channel, gate.slack.ts, outcome.text, outcome.blocks);
    } catch (err) {
      this.count("slack", "failed");
      this.report(rollout, "SlackUpdateFailed", `approval message ${gate.slack.ts} not updated: ${this.slackError(err)}`);
      return { rollout, owed: true };
    }
    this.count("slack", "delivered");
    this.postedGates.delete(gate.token);
    const updated = await this.patch(rollout, [tokenTest, { op: "add", path: "/status/approval/slack/shown", value: gate.decision }]);
    return { rollout: updated, owed: false };
  }

  /** The message of a gate replaced before its message showed the outcome. */
  private async previousMessage(rollout: Rollout): Promise<{ rollout: Rollout; owed: boolean }> {
    const previous = rollout.status?.approval?.previousMessage;
    if (!previous) return { rollout, owed: false };
    const slack = this.deps.slack();
    if (!slack) return { rollout, owed: true };
    const outcome = approvalOutcomeMessage(rollout, previous, this.deps.cluster);
    try {
      await slack.updateMessage(previous.channel, previous.ts, outcome.text, outcome.blocks);
    } catch (err) {
      this.count("slack", "failed");
      this.report(rollout, "SlackUpdateFailed", `approval message ${previous.ts} not updated: ${this.slackError(err)}`);
      return { rollout, owed: true };
    }
    this.count("slack", "delivered");
    const updated = await this.patch(rollout, [
      { op: "test", path: "/status/approval/previousMessage/ts", value: previous.ts },
      { op: "remove", path: "/status/approval/previousMessage" },
    ]);
    return { rollout: updated, owed: false };
  }

  // ---------------------------------------------------------------------- lifecycle notices

  /** Delivers the outbox in order; true when some notice is still owed. */
  private async deliverNotices(start: Rollout): Promise<boolean> {
    let rollout = start;
    for (;;) {
      const notice = rollout.status?.notifications?.outbox?.[0];
      if (!notice) return false;
      const idTest: JsonPatchOp = { op: "test", path: "/status/notifications/outbox/0/id", value: notice.id };
      const sink = this.deps.cloudEvents;
      if (sink && !this.cloudEventsDone.has(notice.id)) {
        try {
          await sink.send(cloudEventFor(rollout, notice, this.deps.cluster));
          this.count("cloudevents", "delivered");
        } catch (err) {
          this.count("cloudevents", "dropped");
          this.deps.log.error("CloudEvent given up after bounded retries", {
            rollout: keyOf(rollout),
            id: notice.id,
            kind: notice.kind,
            error: (err as Error).message,
          });
        }
        remember(this.cloudEventsDone, notice.id);
      }
      const ops: JsonPatchOp[] = [idTest, { op: "remove", path: "/status/notifications/outbox/0" }];
      const channel = this.deps.slackEnabled ? rollout.spec.notifications?.slack?.channel : undefined;
      if (channel) {
        const thread = rollout.status?.notifications;
        const threadTs = thread?.revision === notice.revision && thread.channel === channel ? thread.threadTs : undefined;
        const message = lifecycleMessage(rollout, notice, this.deps.cluster);
        const slack = this.slackOrReport(rollout, `the ${notice.kind} notice`);
        let posted = this.slackDone.get(notice.id);
        let failure: string | undefined;
        if (posted) {
          // Posted already; only its removal from the outbox (a stale cache still shows it) is left.
        } else if (slack) {
          try {
            posted = await slack.postMessage(channel, message.text, message.blocks, threadTs);
            this.count("slack", "delivered");
            this.slackDone.set(notice.id, posted);
            if (this.slackDone.size > 1000) this.slackDone.delete(this.slackDone.keys().next().value as string);
          } catch (err) {
            this.count("slack", "failed");
            failure = this.slackError(err);
          }
        } else failure = "no usable Slack Secret";
        if (!posted) {
          const attempts = (notice.attempts ?? 0) + 1;
          if (attempts < MAX_NOTICE_ATTEMPTS) {
            this.deps.log.warn("lifecycle notice not delivered to Slack; retrying", {
              rollout: keyOf(rollout),
              kind: notice.kind,
              attempts,
              error: failure,
            });
            await this.patch(rollout, [idTest, { op: "add", path: "/status/notifications/outbox/0/attempts", value: attempts }]);
            return true;
          }
          this.count("slack", "dropped");
          this.report(rollout, "NotificationDropped", `${notice.kind} notice given up after ${attempts} attempts: ${failure}`);
        } else if (!threadTs) {
          ops.push(
            { op: "add", path: "/status/notifications/revision", value: notice.revision },
            { op: "add", path: "/status/notifications/channel", value: posted.channel },
            { op: "add", path: "/status/notifications/threadTs", value: posted.ts },
          );
        }
      }
      rollout = await this.patch(rollout, ops);
    }
  }
}

/** Adds to a set of recent ids, forgetting the oldest beyond 1000. */
function remember(ids: Set<string>, id: string): void {
  ids.add(id);
  if (ids.size > 1000) ids.delete(ids.values().next().value as string);
}
