// What the senders of src/notify share: the API client for their status patches, the Slack
// client, and one way to say a delivery problem (a Warning Event, once) and to count results.
import type { Rollout } from "../api/types.js";
import type { Kube } from "../kube/client.js";
import type { Logger } from "../observability/logger.js";
import { SlackApiError, type SlackClient } from "../slack/slack-client.js";

export interface DeliveryTools {
  kube: Kube;
  /** The bot client; undefined when Slack is not configured or its Secret is missing. */
  slack: () => SlackClient | undefined;
  cluster: string;
  log: Logger;
  /** Says a delivery problem once as a Warning Event on the Rollout (and in the log). */
  report(rollout: Rollout, reason: string, message: string): void;
  count(sink: "slack" | "cloudevents", result: "delivered" | "failed" | "dropped"): void;
}

export const keyOf = (r: Rollout) => `${r.metadata.namespace}/${r.metadata.name}`;

export function slackError(err: unknown): string {
  return err instanceof SlackApiError ? `Slack answered ok:false (${err.slackError})` : (err as Error).message;
}

/** Adds to a set or map of recent ids, forgetting the oldest beyond 1000. */
export function remember<K, V>(ids: Set<K> | Map<K, V>, id: K, value?: V): void {
  if (ids instanceof Map) ids.set(id, value as V);
  else ids.add(id);
  if (ids.size > 1000) ids.delete(ids.keys().next().value as K);
}
