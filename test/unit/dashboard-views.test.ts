// What the dashboard shows of a Rollout (src/dashboard/views.ts, pure): the list row, the steps
// with the current one marked, the approval a Rollout waits on, the actions that make sense now.
import { describe, expect, it } from "vitest";
import type { Rollout } from "../../src/api/types.js";
import { actionsFor, detailOf, rowOf } from "../../src/dashboard/views.js";

const steps = [{ setWeight: 10 }, { approval: { approvers: ["U1"], timeout: "10m", onTimeout: "Abort" as const } }, { setWeight: 50 }];
const rollout = (status: Rollout["status"]): Rollout =>
  ({
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name: "web", namespace: "shop", creationTimestamp: new Date("2026-01-01T00:00:00Z") },
    spec: { replicas: 2, template: {}, strategy: { canary: { steps } } },
    status,
  }) as unknown as Rollout;

describe("the dashboard's views", () => {
  it("shows a canary waiting at its approval step, with its deadline, and offers approve and reject", () => {
    const r = rollout({
      phase: "Paused",
      stableRevision: "a",
      canaryRevision: "b",
      currentStep: 1,
      canaryWeight: 10,
      approval: {
        revision: "b",
        step: 1,
        token: "t",
        requestedAt: "2026-01-01T00:01:00Z",
        slack: { channel: "C1", ts: "1700000000.000100" },
      },
    });
    const row = rowOf(r);
    expect(row).toMatchObject({ namespace: "shop", name: "web", step: { index: 2, total: 3, kind: "approval" }, weight: 10 });
    expect(row.waitingForApproval).toMatchObject({ step: 2, deadline: "2026-01-01T00:11:00.000Z", onTimeout: "Abort", approvers: ["U1"] });
    expect(row.waitingForApproval?.slackLink).toBe("https://slack.com/archives/C1/p1700000000000100");
    expect(actionsFor(r)).toEqual(["promote", "promote-full", "abort", "approve", "reject"]);
    expect(detailOf(r, []).steps.map((s) => s.state)).toEqual(["done", "current", "pending"]);
  });

  it("waits on nobody once the gate is decided, offers retry after a rollback, and lists the history newest first", () => {
    const r = rollout({
      phase: "Degraded",
      stableRevision: "a",
      rolledBackRevision: "b",
      approval: { revision: "b", step: 1, token: "t", requestedAt: "2026-01-01T00:01:00Z", decision: "Approved", decidedBy: "alice" },
    });
    expect(rowOf(r).waitingForApproval).toBeUndefined();
    expect(actionsFor(r)).toEqual(["retry"]);
    const detail = detailOf(r, [
      { type: "Normal", reason: "Promoted", message: "a promoted", at: "2026-01-01T00:00:00Z", count: 1 },
      { type: "Warning", reason: "RolledBack", message: "b rolled back", at: "2026-01-01T01:00:00Z", count: 1 },
      { type: "Normal", reason: "StepCompleted", message: "step", at: "2026-01-01T00:30:00Z", count: 2 },
    ]);
    expect(detail.history.map((h) => h.outcome)).toEqual(["RolledBack", "Promoted"]);
    expect(detail.events[0]?.reason).toBe("RolledBack");
    expect(detail.approval).toMatchObject({ decision: "Approved", decidedBy: "alice" });
    expect(detail.steps.every((s) => s.state === "pending")).toBe(true);
  });
});
