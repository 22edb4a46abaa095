// The Slack Web API client against a loopback fake that speaks Slack's protocol: bearer token,
// 429 + Retry-After honoured, ok:false surfaced with Slack's error, bounded attempts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlackApiError, SlackClient } from "../../src/slack/slack-client.js";
import { type FakeSlack, startFakeSlack } from "../../src/slack-loopback/fake-slack.js";

describe("Slack Web API client", () => {
  let slack: FakeSlack;
  let client: SlackClient;
  beforeAll(async () => {
    slack = await startFakeSlack();
    client = new SlackClient({ token: "xoxb-test", baseUrl: slack.url, attempts: 3 });
  });
  afterAll(async () => {
    await slack.close();
  });

  it("posts with the bot token and returns channel and ts; updates by channel id and ts", async () => {
    const posted = await client.postMessage("C0123", "canary started", [{ type: "section", text: { type: "mrkdwn", text: "hi" } }]);
    expect(posted.channel).toBe("C0123");
    expect(posted.ts).toMatch(/^\d+\.\d{6}$/);
    await client.updateMessage(posted.channel, posted.ts, "promoted");
    const [post, update] = slack.calls.slice(-2);
    expect(post?.method).toBe("chat.postMessage");
    expect(post?.authorization).toBe("Bearer xoxb-test");
    expect(update).toMatchObject({ method: "chat.update", body: { channel: "C0123", ts: posted.ts, text: "promoted" } });
    // A text that looks like JSON is still text (Fledge's notices start with "[cluster]").
    const notice = await client.postMessage("C0123", "[prod-eu] shop/checkout: Promoted", [{ type: "divider" }]);
    expect(slack.messages.get(notice.ts)).toMatchObject({ text: "[prod-eu] shop/checkout: Promoted", blocks: [{ type: "divider" }] });
  });

  it("waits Retry-After on 429 and then succeeds", async () => {
    slack.failNext({ status: 429, retryAfter: 1 });
    const before = slack.calls.length;
    const started = Date.now();
    await client.postMessage("C0123", "after a rate limit");
    const attempts = slack.calls.slice(before);
    expect(attempts).toHaveLength(2);
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("surfaces ok:false with Slack's error and does not retry it", async () => {
    slack.failNext({ ok: false, error: "channel_not_found" });
    const before = slack.calls.length;
    await expect(client.postMessage("C404", "nowhere")).rejects.toThrow(SlackApiError);
    expect(slack.calls.length - before).toBe(1);
    slack.failNext({ ok: false, error: "not_in_channel" });
    await expect(client.postMessage("C405", "nowhere")).rejects.toThrow(/not_in_channel/);
  });

  it("gives up after the bounded number of attempts when Slack is unreachable", async () => {
    const down = new SlackClient({ token: "xoxb-test", baseUrl: "http://127.0.0.1:9", attempts: 2, timeoutMs: 1000 });
    await expect(down.postMessage("C1", "x")).rejects.toThrow(/unreachable/);
  });
});
