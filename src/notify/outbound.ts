// Everything the operator sends out after a status write, driven by what status says is still
// owed: gate messages (src/notify/gate-messages.ts) and lifecycle notices
// (src/notify/notice-delivery.ts). It runs on a work queue of its own (src/kube/work-queue.ts:
// one run at a time per Rollout, a kick during a run runs it again), with backoff while
// something stays owed, so a slow or unreachable Slack never holds a reconcile or another rollout. What was sent is recorded in status with JSON Patches guarded
// by `test` operations, so a restarted operator only does what is left.
import type { Rollout } from "../api/types.js";
import { apiProblem, type Kube } from "../kube/client.js";
import type { Watcher } from "../kube/watcher.js";
import { WorkQueue, type WorkResult } from "../kube/work-queue.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { SlackClient } from "../slack/slack-client.js";
import type { CloudEventsSink } from "./cloudevents.js";
import { type DeliveryTools, keyOf } from "./delivery-tools.js";
import { GateMessages } from "./gate-messages.js";
import { NoticeDelivery } from "./notice-delivery.js";

export interface OutboundDeps {
  kube: Kube;
  rollouts: Pick<Watcher<Rollout>, "get" | "list">;
  /** The bot client; undefined when Slack is not configured or its Secret is missing. */
  slack: () => SlackClient | undefined;
  /** Whether the operator was started with a Slack Secret at all. */
  slackEnabled: boolean;
  cloudEvents?: CloudEventsSink;
  cluster: string;
  log: Logger;
  metrics?: Metrics;
  /** The Rollouts this replica delivers for now (a sharded operator: those of its shards). */
  owns?: (key: string) => boolean;
}

const MAX_BACKOFF_MS = 60_000;

export class Outbound {
  private readonly queue: WorkQueue;
  /** Passes in a row that left something owed, per Rollout: the backoff grows with them. */
  private readonly failures = new Map<string, number>();
  /** Problems already recorded as an Event, so a retry loop does not flood. */
  private readonly reported = new Set<string>();
  private readonly gates: GateMessages;
  private readonly notices: NoticeDelivery;

  constructor(private readonly deps: OutboundDeps) {
    const tools: DeliveryTools = {
      kube: deps.kube,
      slack: deps.slack,
      cluster: deps.cluster,
      log: deps.log,
      report: (rollout, reason, message) => this.report(rollout, reason, message),
      count: (sink, result) => deps.metrics?.deliveries.inc({ sink, result }),
    };
    this.gates = new GateMessages(tools);
    this.notices = new NoticeDelivery(tools, deps.cloudEvents, deps.slackEnabled);
    this.queue = new WorkQueue((key) => this.pass(key), 4, undefined, deps.owns);
  }

  /** Whether lifecycle notices of this Rollout go anywhere (so the reconciler queues them). */
  wantsNotices(rollout: Rollout): boolean {
    return this.deps.cloudEvents !== undefined || (this.deps.slackEnabled && rollout.spec.notifications?.slack !== undefined);
  }

  /** Something may be owed for this Rollout: look (now, or after the run in progress). */
  kick(key: string): void {
    this.queue.add(key);
  }

  /** Forgets these Rollouts and waits for their deliveries in flight (their shard goes to another replica). */
  drop(matches: (key: string) => boolean): Promise<void> {
    return this.queue.drop(matches);
  }

  /** Stops taking work and waits for the deliveries in flight (a status patch half done is finished). */
  async stop(): Promise<void> {
    await this.queue.shutdown();
  }

  /** One pass; while something stays owed, the next comes after 1 s, 2 s, 4 s … (at most 60 s). */
  private async pass(key: string): Promise<WorkResult> {
    if (!(await this.runOnce(key))) {
      this.failures.delete(key);
      return {};
    }
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    return { requeueAfterMs: Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1)) };
  }

  /** One pass; true when something is still owed (to be retried with backoff). */
  private async runOnce(key: string): Promise<boolean> {
    const [namespace, name] = key.split("/") as [string, string];
    const cached = this.deps.rollouts.get(name, namespace);
    if (!cached || cached.metadata.deletionTimestamp || !(this.gates.owes(cached) || this.notices.owes(cached))) return false;
    let owed = false;
    try {
      // The cache can lag our own last patch: decide from the API server's copy.
      let rollout = await this.deps.kube.getRollout(namespace, name);
      if (!rollout) return false;
      const gate = await this.gates.gateMessage(rollout);
      rollout = gate.rollout;
      owed ||= gate.owed;
      const previous = await this.gates.previousMessage(rollout);
      rollout = previous.rollout;
      owed ||= previous.owed;
      owed ||= await this.notices.deliver(rollout);
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

  /** Says a delivery problem once as a Warning Event on the Rollout (and in the log). */
  private report(rollout: Rollout, reason: string, message: string): void {
    const key = `${keyOf(rollout)}|${reason}|${message}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.deps.log.error(message, { rollout: keyOf(rollout), reason });
    void this.deps.kube.event(rollout, "Warning", reason, message).catch(() => undefined);
  }
}
