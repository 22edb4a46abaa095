// A small Slack Web API client for approval messages and notifications (slack.md): bearer
// token, configurable base URL (tests point it at a loopback fake), HTTP 429 answered by
// waiting Retry-After seconds, `ok: false` turned into an error that carries Slack's own error
// code, and a bounded number of attempts so Slack being down never blocks anything for long.
import { setTimeout as sleep } from "node:timers/promises";
import axios, { type AxiosInstance } from "axios";
import pRetry, { AbortError } from "p-retry";

export class SlackApiError extends Error {
  constructor(
    readonly method: string,
    readonly slackError: string,
  ) {
    super(`Slack ${method} answered ok:false (${slackError})`);
  }
}

class RateLimited extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`Slack rate-limited the request; retry after ${retryAfterSeconds} s`);
  }
}

export interface SlackClientOptions {
  token: string;
  /** Default https://slack.com; tests use a loopback fake. */
  baseUrl?: string;
  /** Attempts per call, including the first. */
  attempts?: number;
  /** Longest Retry-After honoured, seconds (a longer one fails the call). */
  maxRetryAfterSeconds?: number;
  timeoutMs?: number;
}

export interface PostedMessage {
  channel: string;
  ts: string;
}

export class SlackClient {
  private readonly http: AxiosInstance;

  constructor(private readonly o: SlackClientOptions) {
    this.http = axios.create({
      baseURL: `${(o.baseUrl ?? "https://slack.com").replace(/\/$/, "")}/api/`,
      timeout: o.timeoutMs ?? 10_000,
      headers: { Authorization: `Bearer ${o.token}`, "Content-Type": "application/json; charset=utf-8" },
      validateStatus: () => true,
    });
  }

  /** Calls a Web API method; retries 429 (after Retry-After) and network errors, not ok:false. */
  async call<T extends Record<string, unknown>>(method: string, body: Record<string, unknown>): Promise<T> {
    return pRetry(
      async () => {
        let res: { status: number; headers: Record<string, unknown>; data: unknown };
        try {
          res = await this.http.post(method, body);
        } catch (err) {
          throw new Error(`Slack ${method} unreachable: ${(err as { code?: string }).code ?? (err as Error).message}`);
        }
        if (res.status === 429) throw new RateLimited(Number(res.headers["retry-after"] ?? 1) || 1);
        if (res.status >= 500) throw new Error(`Slack ${method} answered HTTP ${res.status}`);
        const data = res.data as { ok?: boolean; error?: string } & T;
        if (res.status !== 200 || data?.ok !== true) throw new AbortError(new SlackApiError(method, data?.error ?? `HTTP ${res.status}`));
        return data;
      },
      {
        retries: Math.max(0, (this.o.attempts ?? 3) - 1),
        minTimeout: 500,
        factor: 2,
        onFailedAttempt: async ({ error }) => {
          if (error instanceof RateLimited) {
            if (error.retryAfterSeconds > (this.o.maxRetryAfterSeconds ?? 30)) throw error;
            await sleep(error.retryAfterSeconds * 1000);
          }
        },
      },
    );
  }

  async postMessage(channel: string, text: string, blocks?: unknown[], threadTs?: string): Promise<PostedMessage> {
    const data = await this.call<{ channel: string; ts: string }>("chat.postMessage", {
      channel,
      text,
      ...(blocks ? { blocks } : {}),
      ...(threadTs ? { thread_ts: threadTs } : {}),
    });
    return { channel: data.channel, ts: data.ts };
  }

  async updateMessage(channel: string, ts: string, text: string, blocks?: unknown[]): Promise<void> {
    await this.call("chat.update", { channel, ts, text, ...(blocks ? { blocks } : {}) });
  }

  /** The members of a user group (scope usergroups:read). */
  async usergroupMembers(usergroup: string): Promise<string[]> {
    return (await this.call<{ users: string[] }>("usergroups.users.list", { usergroup })).users ?? [];
  }

  /** A fresh Socket Mode WebSocket URL (app-level token, scope connections:write). */
  async openSocketModeConnection(): Promise<string> {
    return (await this.call<{ url: string }>("apps.connections.open", {})).url;
  }
}

/** An ephemeral answer to the user who clicked, through the click's response_url. */
export async function replyEphemeral(responseUrl: string, text: string, timeoutMs = 5_000): Promise<void> {
  const res = await axios.post(
    responseUrl,
    { response_type: "ephemeral", replace_original: false, text },
    { timeout: timeoutMs, validateStatus: () => true },
  );
  if (res.status !== 200) throw new Error(`response_url answered HTTP ${res.status}`);
}
