// A loopback stand-in for the Slack Web API, used by the tests and by `make demo` (which has no
// Slack workspace). It speaks Slack's protocol where Fledge meets it: bearer tokens, JSON or form
// bodies, {ok, error} answers, 429 + Retry-After, message ts values; chat.postMessage and
// chat.update keep the messages so a test can read what a user would see; usergroups.users.list
// answers from groups a test sets; response_url endpoints record ephemeral replies; and
// apps.connections.open hands out a WebSocket URL for Socket Mode envelopes.
import http from "node:http";
import { WebSocket, WebSocketServer } from "ws";

export interface RecordedCall {
  method: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
  at: number;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  threadTs?: string;
  updates: number;
}

export type FakeAnswer = { status: 429; retryAfter: number } | { ok: false; error: string };

export interface FakeSlack {
  url: string;
  calls: RecordedCall[];
  /** Messages by ts, as they read now. */
  messages: Map<string, StoredMessage>;
  /** Ephemeral replies posted to response_url endpoints. */
  responses: Array<{ path: string; body: Record<string, unknown> }>;
  /** The next calls (of `method` to `channel`, each "any" when left out) get these answers first. */
  failNext(...answers: Array<FakeAnswer & { method?: string; channel?: string }>): void;
  /** Forgets failures queued with failNext that were not used. */
  clearFailures(): void;
  setUsergroup(id: string, users: string[]): void;
  /** A fresh response_url for a click. */
  responseUrl(): string;
  /** Sends an interactive envelope on the newest Socket Mode connection; resolves with the ack. */
  sendInteractive(payload: unknown, timeoutMs?: number): Promise<{ envelope_id: string }>;
  /** Asks every Socket Mode client to reconnect, as Slack does when it rotates connections. */
  disconnectSockets(): void;
  openSockets(): number;
  close(): Promise<void>;
}

/** Arguments Slack reads as JSON text when a method is called with a form. */
const STRUCTURED = new Set(["blocks", "attachments", "metadata"]);

/** Slack takes a method's arguments as JSON or as a form, where the structured ones are JSON text. */
function formBody(raw: string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) body[key] = STRUCTURED.has(key) ? JSON.parse(value) : value;
  return body;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: RecordedCall[] = [];
  const messages = new Map<string, StoredMessage>();
  const responses: FakeSlack["responses"] = [];
  const queued: Array<FakeAnswer & { method?: string; channel?: string }> = [];
  const usergroups = new Map<string, string[]>();
  const sockets: WebSocket[] = [];
  const acks = new Map<string, (ack: { envelope_id: string }) => void>();
  let counter = 0;
  let port = 0;

  const answer = (res: http.ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}) =>
    res.writeHead(status, { "Content-Type": "application/json", ...headers }).end(JSON.stringify(body));

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: Record<string, unknown> = {};
      try {
        body = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
          ? formBody(raw)
          : raw
            ? JSON.parse(raw)
            : {};
      } catch {
        answer(res, { ok: false, error: "invalid_json" });
        return;
      }
      if (path.startsWith("/response/")) {
        responses.push({ path, body });
        answer(res, { ok: true });
        return;
      }
      const method = path.replace(/^\/api\//, "");
      calls.push({ method, authorization: req.headers.authorization, body, at: Date.now() });
      const i = queued.findIndex(
        (q) => (q.method === undefined || q.method === method) && (q.channel === undefined || q.channel === body.channel),
      );
      const next = i >= 0 ? queued.splice(i, 1)[0] : undefined;
      if (next && "status" in next) {
        answer(res, { ok: false, error: "ratelimited" }, 429, { "Retry-After": String(next.retryAfter) });
        return;
      }
      if (next) {
        answer(res, { ok: false, error: next.error });
        return;
      }
      if (!req.headers.authorization?.startsWith("Bearer ")) {
        answer(res, { ok: false, error: "not_authed" });
        return;
      }
      switch (method) {
        case "chat.postMessage": {
          counter += 1;
          const ts = `${Math.floor(Date.now() / 1000)}.${String(counter).padStart(6, "0")}`;
          const channel = String(body.channel);
          messages.set(ts, {
            channel,
            ts,
            text: String(body.text ?? ""),
            blocks: body.blocks as unknown[] | undefined,
            threadTs: body.thread_ts as string | undefined,
            updates: 0,
          });
          answer(res, { ok: true, channel, ts });
          return;
        }
        case "chat.update": {
          const message = messages.get(String(body.ts));
          if (!message || message.channel !== body.channel) {
            answer(res, { ok: false, error: "message_not_found" });
            return;
          }
          message.text = String(body.text ?? "");
          if (body.blocks) message.blocks = body.blocks as unknown[];
          message.updates += 1;
          answer(res, { ok: true, channel: message.channel, ts: message.ts });
          return;
        }
        case "usergroups.users.list": {
          const users = usergroups.get(String(body.usergroup));
          answer(res, users ? { ok: true, users } : { ok: false, error: "no_such_subteam" });
          return;
        }
        case "apps.connections.open":
          if (!req.headers.authorization.startsWith("Bearer xapp-")) answer(res, { ok: false, error: "not_allowed_token_type" });
          else answer(res, { ok: true, url: `ws://127.0.0.1:${port}/socket-mode?ticket=${++counter}` });
          return;
        default:
          answer(res, { ok: false, error: "unknown_method" });
      }
    });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (!(req.url ?? "").startsWith("/socket-mode")) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      ws.on("message", (data) => {
        const ack = JSON.parse(data.toString()) as { envelope_id?: string };
        if (ack.envelope_id) acks.get(ack.envelope_id)?.({ envelope_id: ack.envelope_id });
      });
      // Slack pings every few seconds; a client that hears nothing for long reconnects.
      const heartbeat = setInterval(() => ws.ping(), 5_000);
      ws.on("close", () => {
        clearInterval(heartbeat);
        sockets.splice(sockets.indexOf(ws), 1);
      });
      ws.send(JSON.stringify({ type: "hello", num_connections: sockets.length }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  port = typeof address === "object" && address ? address.port : 0;
  let responseCounter = 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    messages,
    responses,
    failNext: (...answers) => queued.push(...answers),
    clearFailures: () => {
      queued.length = 0;
    },
    setUsergroup: (id, users) => usergroups.set(id, users),
    responseUrl: () => `http://127.0.0.1:${port}/response/${++responseCounter}`,
    sendInteractive: (payload, timeoutMs = 3000) => {
      const ws = sockets.filter((s) => s.readyState === WebSocket.OPEN).at(-1);
      if (!ws) return Promise.reject(new Error("no Socket Mode connection is open"));
      const envelopeId = `env-${++counter}`;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`envelope ${envelopeId} not acknowledged within ${timeoutMs} ms`)), timeoutMs);
        acks.set(envelopeId, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
        ws.send(JSON.stringify({ envelope_id: envelopeId, type: "interactive", accepts_response_payload: false, payload }));
      });
    },
    disconnectSockets: () => {
      for (const ws of sockets) ws.send(JSON.stringify({ type: "disconnect", reason: "refresh_requested" }));
    },
    openSockets: () => sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
