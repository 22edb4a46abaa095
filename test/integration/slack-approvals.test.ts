// Approval gates in Slack, end to end: the real operator process against the real API server,
// a loopback Slack Web API, and clicks built, encoded and signed the way Slack does it, posted
// to the operator's interactivity endpoint. Lifecycle notices land in one thread per revision
// and as CloudEvents at a loopback sink. No policy: steps advance on their own, so each test is
// about the gate.
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockActionsPayload, postInteraction, signInteraction } from "../../src/slack-loopback/click-simulator.js";
import { type EventSink, startEventSink } from "../../src/slack-loopback/event-sink.js";
import { type FakeSlack, type StoredMessage, startFakeSlack } from "../../src/slack-loopback/fake-slack.js";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startOperatorProcess,
  testApp,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const SIGNING_SECRET = "test-signing-secret-0123456789";
const GATES = "C0GATES";
const NOTIFY = "C0NOTIFY";
const alice = { id: "U0ALICE", username: "alice" };
const bob = { id: "U0BOB", username: "bob" };
const mallory = { id: "U0MALLORY", username: "mallory" };

async function createSlackSecret(kc: k8s.KubeConfig, namespace: string, keys: Record<string, string>) {
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
    namespace,
    body: { metadata: { name: "fledge-slack" }, stringData: keys },
  });
}

const gateSteps = (extra: object = {}) => [
  { setWeight: 20 },
  { approval: { slack: { channel: GATES }, approvers: [alice.id, "S0RELEASE"], timeout: "10m", onTimeout: "Abort", ...extra } },
  { setWeight: 50 },
];

/** The approval message posted for the gate pending on `rollout` now. */
async function gateMessage(slack: FakeSlack, ro: ReturnType<typeof rolloutClient>, name: string): Promise<StoredMessage> {
  const r = await ro.waitFor(
    name,
    "the gate's message recorded in status",
    (x) => x.status?.approval?.slack?.ts !== undefined && x.status.approval.decision === undefined,
  );
  const message = slack.messages.get(r.status?.approval?.slack?.ts ?? "");
  if (!message) throw new Error("status names a message the fake Slack never saw");
  return message;
}

const buttonsOf = (m: StoredMessage) => JSON.stringify(m.blocks).includes("fledge.approve");
const postsTo = (slack: FakeSlack, channel: string) =>
  slack.calls.filter((c) => c.method === "chat.postMessage" && c.body.channel === channel);

describe("Slack approval gates over HTTP interactivity", () => {
  const kc = kubeConfig();
  let ns: string;
  let slack: FakeSlack;
  let sink: EventSink;
  let operator: OperatorProcess;
  let ro: ReturnType<typeof rolloutClient>;
  let endpoint: string;
  const operatorArgs = () => [
    `--slack-secret=${ns}/fledge-slack`,
    `--slack-api-url=${slack.url}`,
    `--cloudevents-sink=${sink.url}`,
    "--cluster-name=it-cluster",
    `--watch-namespaces=${ns}`,
  ];
  const click = async (message: StoredMessage, user: typeof alice, verdict: "approve" | "reject", responseUrl = slack.responseUrl()) => {
    const request = signInteraction(blockActionsPayload({ user, verdict, message, responseUrl }), SIGNING_SECRET);
    return { status: await postInteraction(endpoint, request), request, responseUrl };
  };
  const newApp = async (name: string, steps: object[] = gateSteps()) => {
    const app = testApp(name, { image: "example.invalid/app:1", errorRate: 0, steps, policy: null });
    const rollout = { ...app.rollout, spec: { ...app.rollout.spec, notifications: { slack: { channel: NOTIFY } } } };
    await apply(ns, app.ingress, rollout);
    await ro.waitFor(name, "Ready", (x) => condition(x, "Ready")?.status === "True");
    return {
      release: (tag: string) =>
        ro.patchSpec(name, { template: { ...app.rollout.spec.template, metadata: { labels: { app: name, tag } } } }),
    };
  };

  beforeAll(async () => {
    ns = await createNamespace(kc, "slack");
    ro = rolloutClient(kc, ns);
    slack = await startFakeSlack();
    sink = await startEventSink();
    await createSlackSecret(kc, ns, { "bot-token": "xoxb-test", "signing-secret": SIGNING_SECRET });
    operator = await startOperatorProcess("slack", operatorArgs());
    endpoint = `http://127.0.0.1:${operator.port}/slack/interactions`;
  });
  afterAll(async () => {
    await operator?.kill();
    await slack?.close();
    await sink?.close();
    await deleteNamespace(kc, ns);
  });

  it("Approve by an approver goes to the next step: message updated, one thread per revision, CloudEvents with their headers", async () => {
    const app = await newApp("pay");
    sink.failNext(1); // the first delivery fails once: the bounded retry gets it through
    await app.release("2");
    const message = await gateMessage(slack, ro, "pay");
    expect(message.channel).toBe(GATES);
    expect(buttonsOf(message)).toBe(true);
    expect(message.text).toMatch(/it-cluster/);
    expect((await click(message, alice, "approve")).status).toBe(200);
    const r = await ro.waitFor("pay", "promoted", isPromoted);
    expect(r.status?.approval).toMatchObject({ decision: "Approved", decidedBy: "alice (U0ALICE) in Slack" });
    await eventually("the message to show the outcome", async () => (!buttonsOf(message) ? true : undefined), 15_000);
    expect(JSON.stringify(message.blocks)).toContain("Approved by alice (U0ALICE) in Slack");

    // Notices of this revision: a root message, the rest in its thread, each naming the cluster.
    const thread = await eventually(
      "the Promoted notice",
      async () => {
        const posts = postsTo(slack, NOTIFY).filter((c) => String(c.body.text).includes(`revision ${r.status?.stableRevision}`));
        return posts.some((c) => String(c.body.text).includes("Promoted")) ? posts : undefined;
      },
      15_000,
    );
    expect(thread.map((c) => /: (\w+)\./.exec(String(c.body.text))?.[1])).toEqual([
      "CanaryStarted",
      "ApprovalRequested",
      "Approved",
      "Promoted",
    ]);
    const root = slack.messages.get([...slack.messages.values()].find((m) => m.text === thread[0]?.body.text)?.ts ?? "");
    expect(root?.threadTs).toBeUndefined();
    for (const reply of thread.slice(1)) expect(reply.body.thread_ts).toBe(root?.ts);
    for (const post of thread) expect(String(post.body.text)).toMatch(/^\[it-cluster\]/);

    const events = await eventually(
      "four CloudEvents",
      async () => {
        const mine = sink.received.filter(
          (e) =>
            e.headers["ce-source"] === `/apis/fledge.dev/v1alpha1/namespaces/${ns}/rollouts/pay` &&
            e.headers["ce-subject"] === r.status?.stableRevision,
        );
        return mine.length >= 4 ? mine : undefined;
      },
      15_000,
    );
    expect(events.map((e) => e.headers["ce-type"])).toEqual([
      "dev.fledge.rollout.canary-started",
      "dev.fledge.rollout.approval-requested",
      "dev.fledge.rollout.approved",
      "dev.fledge.rollout.promoted",
    ]);
    for (const e of events) {
      expect(e.headers["ce-specversion"]).toBe("1.0");
      expect(e.headers["content-type"]).toBe("application/json");
      expect(e.headers["ce-id"]).toMatch(/^[0-9a-f]{32}$/);
      expect(e.data).toMatchObject({ cluster: "it-cluster", rollout: "pay", namespace: ns });
    }
    expect(new Set(events.map((e) => e.headers["ce-id"])).size).toBe(4);
    expect(sink.attempts()).toBeGreaterThan(sink.received.length); // the failed attempt was retried
    // `r` was read when the Rollout became Healthy, before the last notice was delivered: the
    // outbox empties on a later status write, so wait on that instead of asserting the old snapshot.
    await ro.waitFor("pay", "the outbox delivered", (x) => (x.status?.notifications?.outbox ?? []).length === 0);
    expect(await operator.metric("fledge_deliveries_total", { sink: "cloudevents", result: "delivered" })).toBeGreaterThanOrEqual(4);
    expect(await operator.metric("fledge_slack_interactions_total", { via: "http", result: "accepted" })).toBe(1);
  });

  it("a non-approver's click is refused (ephemeral reply, nothing changes); a member of an approver user group may decide", async () => {
    slack.setUsergroup("S0RELEASE", [bob.id]);
    const app = await newApp("cart");
    await app.release("2");
    const message = await gateMessage(slack, ro, "cart");
    expect((await fledge("status", "cart", "-n", ns)).stdout).toContain(`Slack message ${GATES}/${message.ts}`);
    const refused = await click(message, mallory, "approve");
    expect(refused.status).toBe(200); // acknowledged: Slack shows no error; the refusal comes ephemerally
    const reply = await eventually(
      "an ephemeral refusal",
      async () => slack.responses.find((x) => x.path === new URL(refused.responseUrl).pathname),
      10_000,
    );
    expect(reply.body).toMatchObject({ response_type: "ephemeral", replace_original: false });
    expect(String(reply.body.text)).toMatch(/not an approver.*U0ALICE, S0RELEASE/);
    await sleep(1500);
    const still = await ro.get("cart");
    expect(still.status?.approval?.decision).toBeUndefined();
    expect(still.status?.currentStep).toBe(1);
    expect(buttonsOf(message)).toBe(true);
    expect(await operator.metric("fledge_slack_interactions_total", { via: "http", result: "refused" })).toBeGreaterThanOrEqual(1);

    // The same button as posted by another cluster's operator (one Slack app shared by two clusters).
    const foreign = blockActionsPayload({ user: alice, verdict: "approve", message, responseUrl: slack.responseUrl() });
    const [action] = foreign.actions as Array<{ value: string }>;
    if (action) action.value = JSON.stringify({ ...JSON.parse(action.value), cluster: "other-cluster" });
    expect(await postInteraction(endpoint, signInteraction(foreign, SIGNING_SECRET))).toBe(200);
    const foreignReply = await eventually(
      "a refusal for another cluster's button",
      async () => slack.responses.find((x) => x.path === new URL(String(foreign.response_url)).pathname),
      10_000,
    );
    expect(String(foreignReply.body.text)).toMatch(/belongs to cluster other-cluster.*own Slack app/);
    expect((await ro.get("cart")).status?.approval?.decision).toBeUndefined();

    expect((await click(message, bob, "approve")).status).toBe(200);
    const r = await ro.waitFor("cart", "promoted", isPromoted);
    expect(r.status?.approval?.decidedBy).toBe("bob (U0BOB) in Slack");
  });

  it("Reject rolls back with the rejecting user in the reason; the message says so", async () => {
    const app = await newApp("shop");
    await app.release("2");
    const message = await gateMessage(slack, ro, "shop");
    await click(message, alice, "reject");
    const r = await ro.waitFor("shop", "rolled back", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")).toMatchObject({
      reason: "Rejected",
      message: expect.stringMatching(/rejected by alice \(U0ALICE\) in Slack/),
    });
    expect(await ro.weight("shop")).toBe(0);
    await eventually(
      "the message to show the rejection",
      async () => (JSON.stringify(message.blocks).includes("Rejected by alice") ? true : undefined),
      15_000,
    );
    const kinds = await eventually(
      "the RolledBack notice",
      async () => {
        const posts = postsTo(slack, NOTIFY).filter((c) =>
          String(c.body.text).includes(`${ns}/shop revision ${r.status?.rolledBackRevision}`),
        );
        const found = posts.map((c) => /: (\w+)\./.exec(String(c.body.text))?.[1]);
        return found.includes("RolledBack") ? found : undefined;
      },
      15_000,
    );
    expect(kinds).toEqual(["CanaryStarted", "ApprovalRequested", "Rejected", "RolledBack"]);
  });

  it("forged clicks change nothing: a bad signature and a stale timestamp get 401; a replayed click cannot decide the next gate", async () => {
    const steps = [...gateSteps(), { approval: { slack: { channel: GATES }, approvers: [alice.id], timeout: "10m" } }, { setWeight: 80 }];
    const app = await newApp("forge", steps);
    await app.release("2");
    const first = await gateMessage(slack, ro, "forge");
    const payload = blockActionsPayload({ user: alice, verdict: "approve", message: first });
    const forged = signInteraction(payload, "not-the-signing-secret");
    expect(await postInteraction(endpoint, forged)).toBe(401);
    const stale = signInteraction(payload, SIGNING_SECRET, Math.floor(Date.now() / 1000) - 400);
    expect(await postInteraction(endpoint, stale)).toBe(401);
    const tampered = signInteraction(payload, SIGNING_SECRET);
    tampered.body = tampered.body.replace("U0ALICE", "U0MALLO");
    expect(await postInteraction(endpoint, tampered)).toBe(401);
    await sleep(1500);
    expect((await ro.get("forge")).status?.approval?.decision).toBeUndefined();

    const genuine = await click(first, alice, "approve");
    expect(genuine.status).toBe(200);
    const second = await ro.waitFor("forge", "the second gate", (x) => x.status?.currentStep === 3 && x.status.approval?.step === 3);
    // The same signed request again (captured and re-sent within the 5-minute window).
    expect(await postInteraction(endpoint, genuine.request)).toBe(200);
    await sleep(1500);
    const after = await ro.get("forge");
    expect(after.status?.approval).toMatchObject({ token: second.status?.approval?.token });
    expect(after.status?.approval?.decision).toBeUndefined();
    expect(
      await eventually(
        "the replay in the log",
        async () => ((await readLog(operator)).includes("replay of a request already handled") ? true : undefined),
        5_000,
      ),
    ).toBe(true);
    const log = await readLog(operator);
    expect(log).toContain("signature check failed");
    expect(log).toContain("BadSignature");
    expect(log).toMatch(/StaleTimestamp/);
    expect(await operator.metric("fledge_slack_interactions_total", { via: "http", result: "bad_signature" })).toBe(2);
    expect(await operator.metric("fledge_slack_interactions_total", { via: "http", result: "stale_timestamp" })).toBe(1);
    expect(await operator.metric("fledge_slack_interactions_total", { via: "http", result: "replay" })).toBe(1);
    expect(log).not.toContain(SIGNING_SECRET);
    expect(log).not.toContain("xoxb-test");
  });

  it("a newer revision supersedes a pending gate: its message says so and a click on it is refused", async () => {
    const app = await newApp("menu");
    await app.release("2");
    const old = await gateMessage(slack, ro, "menu");
    const asFirstPosted = structuredClone(old); // a user still looking at the buttons
    const oldToken = (await ro.get("menu")).status?.approval?.token;
    await app.release("3");
    await eventually(
      "the old message to say superseded",
      async () => (JSON.stringify(old.blocks).includes("superseded") ? true : undefined),
      20_000,
    );
    const fresh = await ro.waitFor(
      "menu",
      "the new gate",
      (x) => x.status?.approval?.token !== oldToken && x.status?.approval?.slack !== undefined,
    );
    const late = await click(asFirstPosted, alice, "approve");
    const reply = await eventually(
      "an ephemeral refusal",
      async () => slack.responses.find((x) => x.path === new URL(late.responseUrl).pathname),
      10_000,
    );
    expect(String(reply.body.text)).toMatch(/no longer pending|closed: Superseded/);
    await sleep(1000);
    expect((await ro.get("menu")).status?.approval).toMatchObject({ token: fresh.status?.approval?.token });
    expect((await ro.get("menu")).status?.approval?.decision).toBeUndefined();
  });

  it("nobody decides within the timeout: onTimeout Abort rolls back and the message says time ran out", async () => {
    const app = await newApp("late", gateSteps({ timeout: "10s" }));
    await app.release("2");
    const message = await gateMessage(slack, ro, "late");
    const r = await ro.waitFor("late", "rolled back on timeout", (x) => x.status?.phase === "Degraded", 40_000);
    expect(condition(r, "Ready")?.reason).toBe("ApprovalTimedOut");
    await eventually(
      "the message to show the timeout",
      async () => (JSON.stringify(message.blocks).includes("Nobody decided in time") ? true : undefined),
      15_000,
    );
  });

  it("Slack 429 is retried after Retry-After; ok:false leaves the gate pending with a Warning, and the CLI still decides it", async () => {
    const app = await newApp("rate");
    slack.failNext({ method: "chat.postMessage", channel: GATES, status: 429, retryAfter: 1 });
    await app.release("2");
    await gateMessage(slack, ro, "rate");
    const attempts = postsTo(slack, GATES).slice(-2);
    expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
    await fledge("approve", "rate", "-n", ns, "--as", "ci");
    await ro.waitFor("rate", "promoted", isPromoted);

    slack.failNext(
      ...Array.from({ length: 50 }, () => ({ method: "chat.postMessage", channel: GATES, ok: false as const, error: "channel_not_found" })),
    );
    await app.release("3");
    await ro.waitFor("rate", "the gate", (x) => condition(x, "ApprovalPending")?.status === "True");
    const events = await eventually(
      "a SlackPostFailed Warning",
      async () => ((await ro.events("rate")).includes("SlackPostFailed") ? true : undefined),
      15_000,
    );
    expect(events).toBe(true);
    expect(await readLog(operator)).toMatch(/channel_not_found/);
    expect((await ro.get("rate")).status?.approval?.slack).toBeUndefined();
    await fledge("approve", "rate", "-n", ns, "--as", "ci");
    const r = await ro.waitFor("rate", "promoted", isPromoted);
    expect(r.status?.approval?.decidedBy).toBe("ci");
    slack.clearFailures();
  });

  it("the operator restarted while a gate is pending: no second message or notice, and the click still works", async () => {
    const app = await newApp("kept");
    await app.release("2");
    const message = await gateMessage(slack, ro, "kept");
    await eventually(
      "the ApprovalRequested notice",
      async () =>
        postsTo(slack, NOTIFY).some((c) => String(c.body.text).includes(`${ns}/kept`) && String(c.body.text).includes("ApprovalRequested"))
          ? true
          : undefined,
      10_000,
    );
    await ro.waitFor("kept", "the outbox delivered", (x) => (x.status?.notifications?.outbox ?? []).length === 0);
    const gatePosts = postsTo(slack, GATES).length;
    const noticePosts = postsTo(slack, NOTIFY).filter((c) => String(c.body.text).includes(`${ns}/kept`)).length;
    await operator.kill("SIGKILL");
    operator = await startOperatorProcess("slack-restarted", operatorArgs());
    endpoint = `http://127.0.0.1:${operator.port}/slack/interactions`;
    await sleep(3000);
    expect(postsTo(slack, GATES).length).toBe(gatePosts);
    expect(postsTo(slack, NOTIFY).filter((c) => String(c.body.text).includes(`${ns}/kept`)).length).toBe(noticePosts);
    expect((await click(message, alice, "approve")).status).toBe(200);
    await ro.waitFor("kept", "promoted", isPromoted);
    expect(slack.messages.get(message.ts)?.updates).toBe(1);
  });
});

async function readLog(operator: OperatorProcess): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return readFile(operator.logFile, "utf8");
}
