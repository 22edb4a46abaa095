// The Slack Web API client for approval messages and notifications (slack.md), on Slack's own
// SDK (@slack/web-api): it speaks the protocol (bearer token, form encoding, {ok, error}
// answers) and retries network failures with backoff. Around it, what Fledge needs: a
// configurable base URL (tests point it at a loopback fake), HTTP 429 answered by waiting
// Retry-After seconds (a longer wait than we accept fails the call), `ok: false` turned into an
// error that carries Slack's own error code, and a bounded number of attempts so Slack being
// down never blocks anything for long.
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCode, LogLevel, type Logger as SlackLogger, type WebAPICallError, WebClient } from "@slack/web-api";
import axios from "axios";

export class SlackApiError extends Error {
  constructor(
    readonly method: string,
    readonly slackError: string,
  ) {
    super(`Slack ${method} answered ok:false (${slackError})`);
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

/** The SDK logs to the console by default; Fledge logs what matters itself (JSON, redacted). */
const silent: SlackLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const isCallError = (err: unknown): err is WebAPICallError =>
  typeof err === "object" && err !== null && Object.values(ErrorCode).includes((err as { code?: ErrorCode }).code as ErrorCode);

export class SlackClient {
  private readonly web: WebClient;
  private readonly attempts: number;

  constructor(private readonly o: SlackClientOptions) {
    this.attempts = Math.max(1, o.attempts ?? 3);
    this.web = new WebClient(o.token, {
      slackApiUrl: `${(o.baseUrl ?? "https://slack.com").replace(/\/$/, "")}/api/`,
      timeout: o.timeoutMs ?? 10_000,
      // Network failures and 5xx: the SDK retries them; a 429 comes back to us (below).
      retryConfig: { retries: this.attempts - 1, factor: 2, minTimeout: 500, maxTimeout: 4_000 },
      rejectRateLimitedCalls: true,
      logger: silent,
      allowAbsoluteUrls: false,
    });
  }

  /** Calls a Web API method; waits out 429 (Retry-After) and retries network errors, not ok:false. */
  async call<T extends Record<string, unknown>>(method: string, body: Record<string, unknown>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.web.apiCall(method, body)) as unknown as T;
      } catch (err) {
        if (!isCallError(err)) throw err;
        if (err.code === ErrorCode.PlatformError) throw new SlackApiError(method, String(err.data.error ?? "unknown"));
        if (err.code === ErrorCode.RateLimitedError) {
          const wait = err.retryAfter;
          if (attempt >= this.attempts || wait > (this.o.maxRetryAfterSeconds ?? 30))
            throw new Error(`Slack ${method} rate-limited the request (retry after ${wait} s), given up after ${attempt} attempt(s)`);
          await sleep(wait * 1000);
          continue;
        }
        if (err.code === ErrorCode.HTTPError) throw new Error(`Slack ${method} answered HTTP ${err.statusCode}`);
        const cause = (err as { original?: { cause?: { code?: string }; message?: string } }).original;
        throw new Error(`Slack ${method} unreachable: ${cause?.cause?.code ?? cause?.message ?? err.message}`);
      }
    }
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
