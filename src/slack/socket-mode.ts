// Socket Mode, for clusters Slack cannot reach: the operator opens an outbound WebSocket to a
// URL from apps.connections.open (app-level token), Slack sends interactions as envelopes, and
// each envelope is acknowledged within 3 s, before the work. Slack's own client
// (@slack/socket-mode) keeps the connection: the hello handshake, heartbeats, and a fresh URL
// when Slack asks to reconnect (`disconnect`) or the socket drops. The same click logic as the
// HTTP endpoint runs on the payloads; no signing secret is involved (the connection itself is
// authenticated). Until the Slack Secret holds an app-token, this waits and says so; a new
// app-token in the Secret gets a new connection.
import { setTimeout as sleep } from "node:timers/promises";
import { LogLevel, type Logger as SlackLogger, SocketModeClient } from "@slack/socket-mode";
import type { Logger } from "../observability/logger.js";

export interface SocketModeOptions {
  /** The app-level token (xapp-…); undefined while the Secret lacks it. */
  appToken: () => string | undefined;
  /** Default https://slack.com; tests use a loopback fake. */
  apiUrl?: string;
  onInteraction: (payload: unknown) => void;
  log: Logger;
}

/** The SDK's log lines, at warn and above, into the operator's log. */
function slackLogger(log: Logger): SlackLogger {
  return {
    debug: () => {},
    info: () => {},
    warn: (...msg: unknown[]) => log.warn(`Socket Mode: ${msg.map(String).join(" ")}`),
    error: (...msg: unknown[]) => log.warn(`Socket Mode: ${msg.map(String).join(" ")}`),
    setLevel: () => {},
    getLevel: () => LogLevel.WARN,
    setName: () => {},
  };
}

export class SocketModeConnection {
  private stopped = false;
  /** Ends a backoff wait at once when the operator stops. */
  private readonly stopping = new AbortController();
  private client: SocketModeClient | undefined;
  private loop: Promise<void> | undefined;
  connected = false;

  constructor(private readonly o: SocketModeOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    await this.loop;
    await this.client?.disconnect();
  }

  /** An app-token, then a client; the SDK keeps the connection from there. A rotated token (the
   * Secret is re-read every minute) gets a new client; a missing one, a wait. */
  private async run(): Promise<void> {
    let failures = 0;
    let connectedWith: string | undefined;
    while (!this.stopped) {
      const token = this.o.appToken();
      if (this.client && token !== connectedWith) {
        this.o.log.info("Socket Mode: the app-token changed; connecting again with the new one");
        await this.client.disconnect();
        this.client = undefined;
      }
      if (!this.client) {
        try {
          if (!token) throw new Error("no app-token in the Slack Secret");
          await this.connect(token);
          connectedWith = token;
          failures = 0;
        } catch (err) {
          failures += 1;
          this.o.log.warn("Socket Mode connection failed; retrying", { error: (err as Error).message, failures });
        }
      }
      const wait = this.client ? 30_000 : Math.min(30_000, 250 * 2 ** Math.min(failures, 7));
      await sleep(wait, undefined, { signal: this.stopping.signal }).catch(() => undefined);
    }
  }

  private async connect(appToken: string): Promise<void> {
    const client = new SocketModeClient({
      appToken,
      logger: slackLogger(this.o.log),
      // Also the wait before a reconnect: Slack asks for one each time it rotates connections.
      clientPingTimeout: 2_000,
      clientOptions: {
        slackApiUrl: `${(this.o.apiUrl ?? "https://slack.com").replace(/\/$/, "")}/api/`,
        retryConfig: { retries: 2, factor: 2, minTimeout: 500 },
      },
    });
    client.on("interactive", async ({ ack, body }: { ack: () => Promise<void>; body: unknown }) => {
      await ack();
      this.o.onInteraction(body);
    });
    client.on("connected", () => {
      this.connected = true;
      this.o.log.info("Socket Mode connected");
    });
    client.on("disconnected", () => {
      this.connected = false;
    });
    await client.start();
    this.client = client;
  }
}
