// The I/O around a click (from the HTTP endpoint or Socket Mode, after the request was verified
// and acknowledged): read the Rollout fresh from the API server, look up the user groups that
// matter, judge the click (src/slack/click.ts), and record an accepted decision in status with
// a resourceVersion precondition; the reconciler then advances or rolls back, and updates the
// message. A refusal changes nothing, is logged, and is told to the user ephemerally.
import { apiProblem, isConflict, type Kube } from "../kube/client.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { approverGroups, type GateClick, judgeClick, type OperatorScope, outOfScope, parseInteraction } from "./click.js";
import { replyEphemeral, type SlackClient } from "./slack-client.js";

export interface ClickHandlerDeps {
  kube: Kube;
  /** The bot client, undefined while the Slack Secret is missing. */
  slack: () => SlackClient | undefined;
  log: Logger;
  metrics?: Metrics;
  scope: OperatorScope;
  now?: () => Date;
}

const GROUP_CACHE_MS = 60_000;
const CONFLICT_ATTEMPTS = 4;

export class GateClickHandler {
  private readonly groups = new Map<string, { members: Set<string>; at: number }>();

  constructor(private readonly deps: ClickHandlerDeps) {}

  /** Handles one interaction payload; never throws (the request was acknowledged already). */
  async handle(payload: unknown, via: "http" | "socket-mode"): Promise<void> {
    const count = (result: string) => this.deps.metrics?.slackInteractions.inc({ via, result });
    const parsed = parseInteraction(payload);
    if ("ignored" in parsed) {
      count("ignored");
      this.deps.log.info("Slack interaction ignored", { via, why: parsed.ignored });
      return;
    }
    const { click } = parsed;
    const fields = { via, user: click.userId, rollout: `${click.target.namespace}/${click.target.name}`, verdict: click.verdict };
    const foreign = outOfScope(click, this.deps.scope);
    if (foreign) {
      this.deps.log.warn("Slack click refused; nothing changed", { ...fields, reason: foreign });
      count("refused");
      await this.tell(click, `:no_entry: ${foreign} Nothing was changed.`);
      return;
    }
    try {
      for (let attempt = 1; attempt <= CONFLICT_ATTEMPTS; attempt++) {
        const rollout = await this.deps.kube.getRollout(click.target.namespace, click.target.name);
        const memberOf = await this.groupsOf(click, approverGroups(rollout, click));
        const judgement = judgeClick(rollout, click, memberOf, this.deps.now?.() ?? new Date());
        if (!judgement.accepted) {
          this.deps.log.warn("Slack click refused; nothing changed", { ...fields, reason: judgement.reason });
          count("refused");
          await this.tell(click, `:no_entry: ${judgement.reason} Nothing was changed.`);
          return;
        }
        if (!rollout) return;
        try {
          await this.deps.kube.replaceRolloutStatus({ ...rollout, status: judgement.status });
        } catch (err) {
          if (isConflict(err)) continue; // the Rollout changed since it was read: judge again
          throw err;
        }
        this.deps.log.info("approval gate decided in Slack", { ...fields, decidedBy: judgement.decidedBy });
        count("accepted");
        return;
      }
      this.deps.log.error("Slack click not recorded: the Rollout kept changing", fields);
      count("error");
      await this.tell(click, ":warning: The rollout kept changing while your click was recorded; please click again.");
    } catch (err) {
      this.deps.log.error("Slack click not recorded", { ...fields, error: apiProblem(err).message });
      count("error");
      await this.tell(click, ":warning: Your click could not be recorded (the operator could not reach Kubernetes); please try again.");
    }
  }

  /** Which of `groups` the user is in; a group that cannot be read counts as not containing them. */
  private async groupsOf(click: GateClick, groups: string[]): Promise<string[]> {
    const memberOf: string[] = [];
    for (const group of groups) {
      let cached = this.groups.get(group);
      if (!cached || Date.now() - cached.at > GROUP_CACHE_MS) {
        const slack = this.deps.slack();
        if (!slack) continue;
        try {
          cached = { members: new Set(await slack.usergroupMembers(group)), at: Date.now() };
          this.groups.set(group, cached);
        } catch (err) {
          this.deps.log.warn("could not read a Slack user group; its members are not approvers for now", {
            group,
            error: (err as Error).message,
          });
          continue;
        }
      }
      if (cached.members.has(click.userId)) memberOf.push(group);
    }
    return memberOf;
  }

  private async tell(click: GateClick, text: string): Promise<void> {
    if (!click.responseUrl) return;
    await replyEphemeral(click.responseUrl, text).catch((err) =>
      this.deps.log.warn("could not answer the user through response_url", { error: (err as Error).message }),
    );
  }
}
