import { describe, expect, it } from "vitest";
import type { Rollout, RolloutStatus } from "../../src/api/types.js";
import { waitVerdict } from "../../src/cli/wait.js";
import { spec } from "./fixtures.js";

const rollout = (status: RolloutStatus, generation = 3): Rollout => ({
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "x", generation },
  spec: spec(),
  status,
});

describe("fledge wait", () => {
  it("healthy means the stable Deployment runs the current template, seen at this generation", () => {
    expect(waitVerdict(rollout({ phase: "Healthy", stableRevision: "a", currentRevision: "a", observedGeneration: 3 }), "healthy")).toBe(
      "reached",
    );
    // The operator has not seen the latest spec yet: the old Healthy does not count.
    expect(waitVerdict(rollout({ phase: "Healthy", stableRevision: "a", currentRevision: "a", observedGeneration: 2 }), "healthy")).toBe(
      "pending",
    );
    expect(
      waitVerdict(rollout({ phase: "Progressing", stableRevision: "a", currentRevision: "b", observedGeneration: 3 }), "healthy"),
    ).toBe("pending");
  });

  it("a rollback ends a wait for healthy with the other outcome, and the reverse", () => {
    expect(waitVerdict(rollout({ phase: "Degraded", stableRevision: "a", currentRevision: "b", observedGeneration: 3 }), "healthy")).toBe(
      "otherOutcome",
    );
    expect(waitVerdict(rollout({ phase: "Degraded", observedGeneration: 3 }), "degraded")).toBe("reached");
    expect(waitVerdict(rollout({ phase: "Healthy", stableRevision: "b", currentRevision: "b", observedGeneration: 3 }), "degraded")).toBe(
      "otherOutcome",
    );
  });
});
