// The pure parts of Slack approvals and notifications: the approval message and its buttons,
// judging a click against the gate pending now, lifecycle notices with deterministic ids, and
// CloudEvents attributes.
import { describe, expect, it } from "vitest";
import type { ApprovalStatus, Rollout, RolloutStatus } from "../../src/api/types.js";
import { decide } from "../../src/controller/state-machine.js";
import { cloudEventFor, cloudEventType } from "../../src/notify/cloudevents.js";
import { noticeId, noticesFor, OUTBOX_LIMIT, withNotices } from "../../src/notify/lifecycle.js";
import { approvalOutcomeMessage, approvalRequestMessage, lifecycleMessage } from "../../src/notify/slack-messages.js";
import { type GateClick, judgeClick, outOfScope, parseInteraction } from "../../src/slack/click.js";
import { blockActionsPayload } from "../../src/slack-loopback/click-simulator.js";
import { at, deployment, observed, spec, rollout as view } from "./fixtures.js";

const steps = [{ setWeight: 20 }, { approval: { slack: { channel: "C1" }, approvers: ["U1", "S1"], timeout: "10m" } }, { setWeight: 50 }];
const gate: ApprovalStatus = { revision: "rev2", step: 1, token: "tok", requestedAt: at(0).toISOString() };
const pending: RolloutStatus = { stableRevision: "rev1", canaryRevision: "rev2", currentStep: 1, canaryWeight: 20, approval: gate };
const rolloutWith = (status: RolloutStatus): Rollout => ({
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "checkout", namespace: "shop", uid: "uid-1" },
  spec: spec({ strategy: { canary: { steps } } }),
  status,
});

function clickOn(status: RolloutStatus, user: string, verdict: "approve" | "reject" = "approve"): GateClick {
  const message = approvalRequestMessage(rolloutWith(status), status.approval ?? gate, "prod");
  const payload = blockActionsPayload({
    user: { id: user, username: user.toLowerCase() },
    verdict,
    message: { channel: "C1", ts: "1.1", text: message.text, blocks: message.blocks, updates: 0 },
    responseUrl: "http://127.0.0.1/response/1",
  });
  const parsed = parseInteraction(payload);
  if ("ignored" in parsed) throw new Error(parsed.ignored);
  return parsed.click;
}

describe("the approval message", () => {
  it("names rollout, cluster, revision, step and weight, and carries Approve/Reject buttons with confirm dialogs", () => {
    const m = approvalRequestMessage(rolloutWith(pending), gate, "prod");
    const text = JSON.stringify(m.blocks);
    for (const fact of ["shop/checkout", "prod", "rev2", "2 of 3", "20 %", "<@U1>", "<!subteam^S1>", "fledge approve checkout -n shop"])
      expect(text).toContain(fact);
    const actions = m.blocks?.find((b) => (b as { type: string }).type === "actions") as { elements: Array<Record<string, unknown>> };
    expect(actions.elements.map((e) => [e.action_id, e.style])).toEqual([
      ["fledge.approve", "primary"],
      ["fledge.reject", "danger"],
    ]);
    for (const e of actions.elements) {
      expect(e.confirm).toBeDefined();
      expect(JSON.parse(String(e.value))).toEqual({ namespace: "shop", name: "checkout", token: "tok", cluster: "prod" });
    }
  });

  it("once decided, shows the outcome and no buttons", () => {
    const m = approvalOutcomeMessage(
      rolloutWith(pending),
      { revision: "rev2", step: 1, decision: "Rejected", decidedBy: "bob (U2) in Slack" },
      "prod",
    );
    expect(JSON.stringify(m.blocks)).not.toContain("fledge.approve");
    expect(JSON.stringify(m.blocks)).toContain("Rejected by bob (U2) in Slack");
  });
});

describe("judging a click", () => {
  it("an approver's click on the pending gate records the decision and who", () => {
    const j = judgeClick(rolloutWith(pending), clickOn(pending, "U1"), [], at(5));
    expect(j).toMatchObject({ accepted: true, decidedBy: "u1 (U1) in Slack" });
    if (j.accepted) expect(j.status.approval).toMatchObject({ decision: "Approved", decidedAt: at(5).toISOString(), token: "tok" });
    const rejected = judgeClick(rolloutWith(pending), clickOn(pending, "U1", "reject"), [], at(5));
    if (rejected.accepted) expect(rejected.status.approval?.decision).toBe("Rejected");
    else expect.fail(rejected.reason);
  });

  it("a member of a listed user group may decide; anyone else is refused with the approvers named", () => {
    expect(judgeClick(rolloutWith(pending), clickOn(pending, "U9"), ["S1"], at(5)).accepted).toBe(true);
    const refused = judgeClick(rolloutWith(pending), clickOn(pending, "U9"), [], at(5));
    expect(refused).toEqual({ accepted: false, reason: expect.stringMatching(/not an approver.*Approvers: U1, S1/) });
  });

  it("refuses a click for a gate that is not pending now: decided, replaced, superseded, moved on, or gone", () => {
    const click = clickOn(pending, "U1");
    const cases: Array<[Rollout | undefined, RegExp]> = [
      [rolloutWith({ ...pending, approval: { ...gate, decision: "Approved", decidedBy: "alice" } }), /closed: Approved by alice/],
      [rolloutWith({ ...pending, approval: { ...gate, token: "newer" } }), /no longer pending/],
      [rolloutWith({ ...pending, approval: { ...gate, decision: "Superseded" } }), /closed: Superseded/],
      [rolloutWith({ ...pending, currentStep: 2 }), /moved on/],
      [undefined, /does not exist/],
    ];
    for (const [r, reason] of cases)
      expect(judgeClick(r, click, [], at(5))).toEqual({ accepted: false, reason: expect.stringMatching(reason) });
  });

  it("a click for another cluster, or for a namespace this operator does not watch, is not judged here", () => {
    const click = clickOn(pending, "U1");
    expect(click.target.cluster).toBe("prod");
    expect(outOfScope(click, { cluster: "prod", manages: () => true })).toBeUndefined();
    expect(outOfScope(click, { cluster: "staging", manages: () => true })).toMatch(/belongs to cluster prod.*own Slack app/);
    expect(outOfScope(click, { cluster: "prod", manages: (ns) => ns !== "shop" })).toMatch(/not in a namespace this operator watches/);
  });

  it("ignores interactions that are not a Fledge button", () => {
    expect(parseInteraction({ type: "view_submission" })).toHaveProperty("ignored");
    expect(parseInteraction({ type: "block_actions", user: { id: "U1" }, actions: [{ action_id: "other" }] })).toHaveProperty("ignored");
    expect(
      parseInteraction({ type: "block_actions", user: { id: "U1" }, actions: [{ action_id: "fledge.approve", value: "not json" }] }),
    ).toHaveProperty("ignored");
  });
});

describe("lifecycle notices", () => {
  it("a canary start, an approval request and a rollback become notices with deterministic ids", () => {
    const started = decide(view({ stableRevision: "rev1" }, { strategy: { canary: { steps } } }), observed(), at(0));
    const notices = noticesFor("uid-1", started.transitions, started.status.analysis, at(0));
    expect(notices.map((n) => [n.kind, n.revision])).toEqual([["CanaryStarted", "rev2"]]);
    expect(notices[0]?.id).toBe(noticeId("uid-1", "rev2", "CanaryStarted", at(0).toISOString()));
    expect(noticesFor("uid-1", started.transitions, started.status.analysis, at(0))[0]?.id).toBe(notices[0]?.id);
    expect(noticeId("uid-2", "rev2", "CanaryStarted", at(0).toISOString())).not.toBe(notices[0]?.id);

    const opened = decide(
      view({ ...pending, approval: undefined, stepStartedAt: at(0).toISOString() }, { strategy: { canary: { steps } } }),
      observed({ canary: deployment("rev2", 1), canaryWeight: 20, entropy: "e" }),
      at(1),
    );
    expect(noticesFor("uid-1", opened.transitions, opened.status.analysis, at(1)).map((n) => n.kind)).toEqual(["ApprovalRequested"]);

    const aborted = decide(
      view({ ...pending, stepStartedAt: at(0).toISOString() }, { strategy: { canary: { steps } } }),
      observed({ canary: deployment("rev2", 1), canaryWeight: 20, action: { kind: "abort", value: "abort/1" } }),
      at(2),
    );
    const [rolledBack] = noticesFor("uid-1", aborted.transitions, aborted.status.analysis ?? pending.analysis, at(2));
    expect(rolledBack).toMatchObject({ kind: "RolledBack", revision: "rev2", message: expect.stringMatching(/aborted by a user/) });
  });

  it("the outbox keeps the newest notices when nothing delivers them", () => {
    let status: RolloutStatus = {};
    for (let i = 0; i < OUTBOX_LIMIT + 5; i++)
      status = withNotices(status, [{ id: `n${i}`, kind: "CanaryStarted", revision: "r", at: at(i).toISOString(), message: "m" }]);
    expect(status.notifications?.outbox).toHaveLength(OUTBOX_LIMIT);
    expect(status.notifications?.outbox?.at(-1)?.id).toBe(`n${OUTBOX_LIMIT + 4}`);
  });

  it("a Slack notice names the cluster; a CloudEvent carries the id, the API path as source and a typed name", () => {
    const notice = {
      id: "abc",
      kind: "DeadlineExceeded" as const,
      revision: "rev2",
      at: at(3).toISOString(),
      message: "no progress",
      figures: "canary 10 requests",
    };
    expect(lifecycleMessage(rolloutWith(pending), notice, "prod-eu").text).toMatch(
      /^\[prod-eu\] shop\/checkout revision rev2: DeadlineExceeded/,
    );
    const event = cloudEventFor(rolloutWith(pending), notice, "prod-eu");
    expect(event.headers).toEqual({
      "ce-specversion": "1.0",
      "ce-id": "abc",
      "ce-source": "/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts/checkout",
      "ce-type": "dev.fledge.rollout.deadline-exceeded",
      "ce-time": at(3).toISOString(),
      "ce-subject": "rev2",
      "content-type": "application/json",
    });
    expect(JSON.parse(event.body)).toMatchObject({ cluster: "prod-eu", kind: "DeadlineExceeded", analysis: "canary 10 requests" });
    expect(cloudEventType("CanaryStarted")).toBe("dev.fledge.rollout.canary-started");
  });
});
