// POST /slack/interactions on the operator's HTTP server: Slack's interactivity Request URL.
// Order matters (slack.md): read the raw body, verify the signature over it before parsing
// anything, refuse a request seen before (same signature within the 5-minute window), answer
// 200 at once (Slack wants an ack within 3 s), and only then do the work.
import type http from "node:http";
import type { Route } from "../observability/http-server.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { MAX_CLOCK_SKEW_SECONDS, verifySlackSignature } from "./slack-signature.js";

export const INTERACTIONS_PATH = "/slack/interactions";
const MAX_BODY_BYTES = 256 * 1024;

export interface InteractivityOptions {
  /** Undefined while the Slack Secret (signing-secret key) is missing: clicks are refused with 503. */
  signingSecret: () => string | undefined;
  onInteraction: (payload: unknown) => void;
  log: Logger;
  metrics?: Metrics;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function interactivityRoute(options: InteractivityOptions): Route {
  const { log } = options;
  const count = (result: string) => options.metrics?.slackInteractions.inc({ via: "http", result });
  // Signatures already accepted, with when: a captured request re-sent within the window is a replay.
  const seen = new Map<string, number>();
  return async (req, res) => {
    if ((req.url ?? "").split("?")[0] !== INTERACTIONS_PATH) return false;
    if (req.method !== "POST") {
      res.writeHead(405, { Allow: "POST" }).end();
      return true;
    }
    const body = await readBody(req);
    if (!body) {
      res.writeHead(413).end("request too large");
      return true;
    }
    const secret = options.signingSecret();
    if (!secret) {
      log.error("Slack click refused: no signing-secret in the Slack Secret");
      count("not_configured");
      res.writeHead(503).end("Slack is not configured on this operator");
      return true;
    }
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const signature = header("x-slack-signature");
    const check = verifySlackSignature(secret, { timestamp: header("x-slack-request-timestamp"), signature }, body);
    if (!check.ok) {
      log.warn("Slack request refused: signature check failed; nothing changed", {
        reason: check.reason,
        remote: req.socket.remoteAddress,
      });
      count(check.reason === "StaleTimestamp" ? "stale_timestamp" : "bad_signature");
      res.writeHead(401).end(check.reason);
      return true;
    }
    const now = Date.now();
    for (const [sig, at] of seen) if (now - at > MAX_CLOCK_SKEW_SECONDS * 1000 * 2) seen.delete(sig);
    if (signature && seen.has(signature)) {
      log.warn("Slack request refused: replay of a request already handled; nothing changed", { remote: req.socket.remoteAddress });
      count("replay");
      res.writeHead(200).end();
      return true;
    }
    if (signature) seen.set(signature, now);
    let payload: unknown;
    try {
      payload = JSON.parse(new URLSearchParams(body.toString("utf8")).get("payload") ?? "");
    } catch {
      log.warn("Slack request refused: no JSON payload field");
      count("malformed");
      res.writeHead(400).end("expected payload=<json>");
      return true;
    }
    res.writeHead(200).end();
    setImmediate(() => options.onInteraction(payload));
    return true;
  };
}
