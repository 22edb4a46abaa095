import { describe, expect, it } from "vitest";
import type { Condition, Rollout, RolloutStatus } from "../../src/api/types.js";
import { waitVerdict } from "../../src/cli/wait.js";
import { spec } from "./fixtures.js";

const rollout = (status: RolloutStatus, generation = 3): Rollout => ({
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "x", generation },
  spec: spec(),
  status,
});
const ready = (status: "True" | "False", reason: string): Condition[] => [
  { type: "Ready", status, reason, message: "", lastTransitionTime: "2026-01-01T00:00:00Z" },
];

describe("fledge wait", () => {
  it("healthy means the stable Deployment runs the current template, is Ready, and was seen at this generation", () => {
    const healthy = { phase: "Healthy", stableRevision: "a", currentRevision: "a", conditions: ready("True", "Healthy") } as const;
    expect(waitVerdict(rollout({ ...healthy, observedGeneration: 3 }), "healthy")).toBe("reached");
    // The operator has not seen the latest spec yet: the old Healthy does not count.
    expect(waitVerdict(rollout({ ...healthy, observedGeneration: 2 }), "healthy")).toBe("pending");
    expect(
      waitVerdict(rollout({ phase: "Progressing", stableRevision: "a", currentRevision: "b", observedGeneration: 3 }), "healthy"),
    ).toBe("pending");
  });

  it("a Rollout no traffic can reach is not healthy, and not a rollback either: wait keeps waiting", () => {
    const unrouted = rollout({
      phase: "Degraded",
      stableRevision: "a",
      currentRevision: "a",
      observedGeneration: 3,
      conditions: ready("False", "TrafficNotRouted"),
    });
    expect(waitVerdict(unrouted, "healthy")).toBe("pending");
    expect(waitVerdict(unrouted, "degraded")).toBe("pending");
    // Even a phase that says Healthy does not pass without Ready=True.
    const notReady = rollout({ phase: "Healthy", stableRevision: "a", currentRevision: "a", observedGeneration: 3, conditions: [] });
    expect(waitVerdict(notReady, "healthy")).toBe("pending");
  });

  it("a rollback ends a wait for healthy with the other outcome, and the reverse", () => {
    expect(waitVerdict(rollout({ phase: "Degraded", stableRevision: "a", currentRevision: "b", observedGeneration: 3 }), "healthy")).toBe(
      "otherOutcome",
    );
    expect(waitVerdict(rollout({ phase: "Degraded", observedGeneration: 3 }), "degraded")).toBe("reached");
    expect(
      waitVerdict(
        rollout({
          phase: "Healthy",
          stableRevision: "b",
          currentRevision: "b",
          observedGeneration: 3,
          conditions: ready("True", "Healthy"),
        }),
        "degraded",
      ),
    ).toBe("otherOutcome");
  });
});
