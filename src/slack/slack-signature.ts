// Verifies that a request really comes from Slack (slack.md): v0 signature, HMAC-SHA256 of
// "v0:<timestamp>:<raw body>" with the app's signing secret, compared in constant time, and a
// timestamp no more than 5 minutes away from now (so a captured request cannot be replayed
// later). Verify before parsing anything.
import { createHmac, timingSafeEqual } from "node:crypto";

export const MAX_CLOCK_SKEW_SECONDS = 300;

export type SignatureCheck = { ok: true } | { ok: false; reason: "MissingHeaders" | "StaleTimestamp" | "BadSignature" };

export function slackSignature(signingSecret: string, timestamp: string, rawBody: string | Buffer): string {
  const mac = createHmac("sha256", signingSecret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest("hex")}`;
}

export function verifySlackSignature(
  signingSecret: string,
  headers: { timestamp?: string; signature?: string },
  rawBody: string | Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return { ok: false, reason: "MissingHeaders" };
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_CLOCK_SKEW_SECONDS) return { ok: false, reason: "StaleTimestamp" };
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, rawBody));
  const given = Buffer.from(signature);
  // timingSafeEqual needs equal lengths; a length mismatch is a bad signature either way.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: "BadSignature" };
  return { ok: true };
}
