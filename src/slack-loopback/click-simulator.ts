// Plays a person clicking a button of an approval message: builds the block_actions payload
// Slack would send (the button's own value, the user, the message, a response_url), encodes it
// as Slack does (form field `payload`), signs it with the signing secret (v0 HMAC) and posts
// it to the operator's interactivity endpoint. Options forge the bad cases: a wrong secret, an
// old timestamp, the same signed request sent again.
import axios from "axios";
import { APPROVE_ACTION, REJECT_ACTION } from "../slack/gate-buttons.js";
import { slackSignature } from "../slack/slack-signature.js";
import type { StoredMessage } from "./fake-slack.js";

export interface ClickOptions {
  user: { id: string; username: string };
  verdict: "approve" | "reject";
  /** The approval message as posted (the button value is read from its blocks). */
  message: StoredMessage;
  responseUrl?: string;
}

interface Button {
  type?: string;
  action_id?: string;
  value?: string;
}

export function blockActionsPayload(o: ClickOptions): Record<string, unknown> {
  const actionId = o.verdict === "approve" ? APPROVE_ACTION : REJECT_ACTION;
  const actions = (o.message.blocks ?? []) as Array<{ type?: string; block_id?: string; elements?: Button[] }>;
  const block = actions.find((b) => b.type === "actions" && b.elements?.some((e) => e.action_id === actionId));
  const button = block?.elements?.find((e) => e.action_id === actionId);
  if (!block || !button) throw new Error(`message ${o.message.ts} has no ${o.verdict} button (already decided?)`);
  return {
    type: "block_actions",
    user: { id: o.user.id, username: o.user.username, name: o.user.username, team_id: "T0FLEDGE" },
    team: { id: "T0FLEDGE", domain: "fledge-demo" },
    api_app_id: "A0FLEDGE",
    channel: { id: o.message.channel },
    container: { type: "message", message_ts: o.message.ts, channel_id: o.message.channel },
    message: { ts: o.message.ts, text: o.message.text },
    ...(o.responseUrl ? { response_url: o.responseUrl } : {}),
    trigger_id: "1.2.3",
    actions: [{ type: "button", action_id: actionId, block_id: block.block_id, value: button.value, action_ts: `${Date.now() / 1000}` }],
  };
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

export function signInteraction(payload: unknown, signingSecret: string, timestampSeconds = Math.floor(Date.now() / 1000)): SignedRequest {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(timestampSeconds);
  return {
    body,
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "X-Slack-Request-Timestamp": timestamp,
      "X-Slack-Signature": slackSignature(signingSecret, timestamp, body),
    },
  };
}

/** Posts a signed request to the operator's endpoint; resolves with the HTTP status. */
export async function postInteraction(endpoint: string, request: SignedRequest): Promise<number> {
  const res = await axios.post(endpoint, request.body, { headers: request.headers, validateStatus: () => true, timeout: 5_000 });
  return res.status;
}
