// Socket Mode, for clusters Slack cannot reach: the operator opens an outbound WebSocket to a
// URL from apps.connections.open (app-level token), Slack sends interactions as envelopes, and
// each envelope is acknowledged by echoing its envelope_id within 3 s, before the work. A
// `disconnect` message (Slack rotates connections) or a dropped socket means: fetch a fresh
// URL and connect again, with backoff. The same click logic as the HTTP endpoint runs on the
// payloads; no signing secret is involved (the connection itself is authenticated).
import { setTimeout as sleep } from "node:timers/promises";
import WebSocket from "ws";
import type { Logger } from "../observability/logger.js";
import type { SlackClient } from "./slack-client.js";

export interface SocketModeOptions {
  /** A client holding the app-level token (xapp-…); undefined while the Secret lacks it. */
  appClient: () => SlackClient | undefined;
  onInteraction: (payload: unknown) => void;
  log: Logger;
}

interface Envelope {
  type?: string;
  envelope_id?: string;
  payload?: unknown;
  reason?: string;
}

export class SocketModeConnection {
  private stopped = false;
  private socket: WebSocket | undefined;
  private loop: Promise<void> | undefined;
  /** Resolves when the current socket closes. */
  private closed: (() => void) | undefined;
  connected = false;

  constructor(private readonly o: SocketModeOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.socket?.close();
    this.closed?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const client = this.o.appClient();
        if (!client) throw new Error("no app-token in the Slack Secret");
        const url = await client.openSocketModeConnection();
        await this.connect(url);
        failures = 0;
      } catch (err) {
        failures += 1;
        this.o.log.warn("Socket Mode connection failed; retrying", { error: (err as Error).message, failures });
      }
      if (!this.stopped) await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)));
    }
  }

  /** Runs one connection until it closes (disconnect message, network, stop). */
  private connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      this.socket = ws;
      let opened = false;
      this.closed = () => resolve();
      ws.on("open", () => {
        opened = true;
      });
      ws.on("message", (data) => {
        let envelope: Envelope;
        try {
          envelope = JSON.parse(data.toString()) as Envelope;
        } catch {
          this.o.log.warn("Socket Mode: a message that is not JSON was ignored");
          return;
        }
        if (envelope.type === "hello") {
          this.connected = true;
          this.o.log.info("Socket Mode connected");
          return;
        }
        if (envelope.type === "disconnect") {
          this.o.log.info("Socket Mode: Slack asked to reconnect", { reason: envelope.reason });
          ws.close();
          return;
        }
        if (envelope.envelope_id) ws.send(JSON.stringify({ envelope_id: envelope.envelope_id }));
        if (envelope.type === "interactive") setImmediate(() => this.o.onInteraction(envelope.payload));
      });
      ws.on("close", () => {
        this.connected = false;
        resolve();
      });
      ws.on("error", (err) => {
        if (!opened) reject(err);
        else ws.close();
      });
    });
  }
}
