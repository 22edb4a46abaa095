import { describe, expect, it } from "vitest";
import { analysisSettings } from "../../src/analysis/checks.js";
import type { AnalysisPolicySpec } from "../../src/api/types.js";
import { simulateMany } from "../../src/simulate/engine.js";
import { runSimulation } from "../../src/simulate/report.js";
import { betaQuantile, clopperPearson, regularizedBeta } from "../../src/simulate/stats.js";

const policy: AnalysisPolicySpec = {
  interval: "1s",
  errorRate: { requests: "r", errors: "e", judge: { sequential: { alpha: 0.01, beta: 0.05 } }, minRequests: 100 },
};
const S = { rps: 100, weights: [10], stableErrorRate: 0.005, canaryErrorRate: 0.05, maxSeconds: 600 };

describe("statistics for reports", () => {
  it("the regularized incomplete beta matches closed forms", () => {
    expect(regularizedBeta(0.3, 1, 1)).toBeCloseTo(0.3, 10); // uniform
    expect(regularizedBeta(0.5, 2, 2)).toBeCloseTo(0.5, 10); // symmetric
    expect(regularizedBeta(0.2, 1, 3)).toBeCloseTo(1 - 0.8 ** 3, 10);
  });

  it("Clopper–Pearson: 0 of n has upper bound 1 − (α/2)^(1/n); the interval covers the estimate", () => {
    expect(clopperPearson(0, 10_000).upper).toBeCloseTo(1 - 0.025 ** (1 / 10_000), 7);
    const ci = clopperPearson(45, 10_000);
    expect(ci.lower).toBeLessThan(0.0045);
    expect(ci.upper).toBeGreaterThan(0.0045);
    expect(betaQuantile(0.5, 3, 3)).toBeCloseTo(0.5, 8);
  });
});

describe("the simulator", () => {
  it("is deterministic for a seed", () => {
    const settings = analysisSettings(policy);
    expect(simulateMany(settings, S, 50, 42)).toEqual(simulateMany(settings, S, 50, 42));
    expect(simulateMany(settings, S, 50, 42)).not.toEqual(simulateMany(settings, S, 50, 43));
  });

  it("rolls a 10× canary back in every run and counts the failed requests it served", () => {
    const [ours] = runSimulation({ policy, profile: S, runs: 200, seed: 1 });
    expect(ours?.rollbackRate).toBe(1);
    expect(ours?.errorsBeforeRollback).toBeGreaterThan(0);
  });

  it("the Argo-style rule needs four 1-minute checks to roll the same canary back", () => {
    const summaries = runSimulation({ policy, profile: S, runs: 50, seed: 1, compare: true });
    expect(summaries.map((s) => s.rule)).toEqual([
      "this policy",
      "Argo-style: >1 %, 1-min checks, failureLimit 3",
      "Flagger-style: >1 %, 1-min checks, threshold 3",
    ]);
    expect(summaries[1]?.rollbackSeconds.median).toBe(240);
    expect(summaries[2]?.rollbackSeconds.median).toBe(180);
  });

  it("zero traffic is never a promotion", () => {
    const results = simulateMany(analysisSettings(policy), { ...S, canaryErrorRate: 0.005, rps: 0, maxSeconds: 120 }, 20, 3);
    expect(results.every((r) => r.outcome !== "promoted")).toBe(true);
  });
});
