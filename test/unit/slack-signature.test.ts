import { describe, expect, it } from "vitest";
import { slackSignature, verifySlackSignature } from "../../src/slack/slack-signature.js";

// Slack's documented test vector (slack.md).
const secret = "8f742231b10e8888abcd99yyyzzz85a5";
const timestamp = "1531420618";
const body =
  "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

describe("Slack request signatures", () => {
  it("matches Slack's documented test vector", () => {
    expect(slackSignature(secret, timestamp, body)).toBe(expected);
  });

  it("accepts the genuine request within 5 minutes", () => {
    expect(verifySlackSignature(secret, { timestamp, signature: expected }, body, Number(timestamp) + 299)).toEqual({ ok: true });
  });

  it("refuses a stale timestamp (replay), a changed body, a wrong secret and missing headers", () => {
    expect(verifySlackSignature(secret, { timestamp, signature: expected }, body, Number(timestamp) + 301)).toEqual({
      ok: false,
      reason: "StaleTimestamp",
    });
    expect(verifySlackSignature(secret, { timestamp, signature: expected }, `${body}x`, Number(timestamp))).toEqual({
      ok: false,
      reason: "BadSignature",
    });
    expect(verifySlackSignature("another-secret", { timestamp, signature: expected }, body, Number(timestamp))).toEqual({
      ok: false,
      reason: "BadSignature",
    });
    expect(verifySlackSignature(secret, { timestamp, signature: "v0=short" }, body, Number(timestamp))).toEqual({
      ok: false,
      reason: "BadSignature",
    });
    expect(verifySlackSignature(secret, { signature: expected }, body, Number(timestamp))).toEqual({ ok: false, reason: "MissingHeaders" });
  });
});
