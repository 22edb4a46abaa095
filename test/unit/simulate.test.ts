import { describe, expect, it } from "vitest";
import { analysisSettings } from "../../src/analysis/checks.js";
import type { AnalysisPolicySpec } from "../../src/api/types.js";
import { simulateMany, type TrafficProfile } from "../../src/simulate/engine.js";
import { PEER_CONFIGS, type PeerName, simulatePeerMany } from "../../src/simulate/peer-models.js";
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

  it("--compare runs the models of the peers' configurations that make bench-peers runs", () => {
    const summaries = runSimulation({ policy, profile: S, runs: 50, seed: 1, compare: true });
    expect(summaries.map((s) => s.rule)).toEqual(["this policy", ...Object.values(PEER_CONFIGS).map((c) => c.label)]);
  });

  it("stepSeconds holds a passed step for its pause, analysed meanwhile", () => {
    const quick: AnalysisPolicySpec = {
      ...policy,
      errorRate: { requests: "r", errors: "e", judge: { sequential: { alpha: 0.01, beta: 0.05, maxStepDuration: "10s" } }, minRequests: 1 },
    };
    const good = { ...S, canaryErrorRate: 0.005, weights: [20, 50] };
    const held = simulateMany(analysisSettings(quick, { analysedSteps: 2 }), { ...good, stepSeconds: 120 }, 20, 5);
    expect(held.every((r) => r.outcome === "promoted" && r.seconds >= 240)).toBe(true);
    const unheld = simulateMany(analysisSettings(quick, { analysedSteps: 2 }), good, 20, 5);
    expect(unheld.every((r) => r.outcome === "promoted" && r.seconds < 60)).toBe(true);
  });
});

describe("the models of the real peers (src/simulate/peer-models.ts)", () => {
  const profile = (canaryErrorRate: number, extra: Partial<TrafficProfile> = {}): TrafficProfile => ({
    rps: 100,
    weights: [20],
    stableErrorRate: 0.005,
    canaryErrorRate,
    maxSeconds: 1800,
    ...extra,
  });
  const runs = (name: PeerName, p: TrafficProfile) => simulatePeerMany(PEER_CONFIGS[name], p, 40, 7);

  it("Flagger rolls a failing canary back on the tick after failed checks reach the threshold", () => {
    for (const name of ["flagger-docs", "flagger-fast"] as const) {
      const { intervalSeconds, threshold } = PEER_CONFIGS[name];
      for (const r of runs(name, profile(0.05)))
        expect(r).toMatchObject({ outcome: "rolled-back", seconds: (threshold + 1) * intervalSeconds });
    }
  });

  it("Flagger promotes a good canary two ticks after its last weight step passed", () => {
    for (const name of ["flagger-docs", "flagger-fast"] as const) {
      const { intervalSeconds, stepWeight, maxWeight } = PEER_CONFIGS[name];
      const results = runs(name, profile(0.001));
      for (const r of results) expect(r).toMatchObject({ outcome: "promoted", seconds: (maxWeight / stepWeight + 2) * intervalSeconds });
    }
  });

  it("Argo Rollouts aborts when failed measurements exceed failureLimit, and otherwise promotes when its steps end", () => {
    const fast = PEER_CONFIGS["argo-fast"];
    for (const r of runs("argo-fast", profile(0.05))) {
      expect(r.outcome).toBe("rolled-back");
      // Measurements at analysisStartSeconds + k × interval; the (failureLimit + 1)-th failure aborts.
      expect((r.seconds - fast.analysisStartSeconds) % fast.intervalSeconds).toBe(0);
      expect(r.seconds).toBeGreaterThanOrEqual(fast.analysisStartSeconds + fast.failureLimit * fast.intervalSeconds);
    }
    // Its docs' settings measure twice in a 4-minute rollout: a 10x canary is promoted.
    for (const r of runs("argo-docs", profile(0.05))) expect(r).toMatchObject({ outcome: "promoted", seconds: 240 });
  });

  it("an incident on both arms fails the peers' canary-only checks: the tightened ones roll a good canary back", () => {
    const incident = profile(0.005, { perturbations: [{ kind: "common-mode", factor: 5, fromSeconds: 15, durationSeconds: 120 }] });
    expect(runs("argo-fast", incident).every((r) => r.outcome === "rolled-back")).toBe(true);
    expect(runs("flagger-fast", incident).every((r) => r.outcome === "rolled-back")).toBe(true);
    // Flagger's docs' threshold of 5 outlasts a 2-minute incident.
    expect(runs("flagger-docs", incident).every((r) => r.outcome === "promoted")).toBe(true);
  });
});
describe("zero traffic", () => {
  it("is never a promotion", () => {
    const results = simulateMany(analysisSettings(policy), { ...S, canaryErrorRate: 0.005, rps: 0, maxSeconds: 120 }, 20, 3);
    expect(results.every((r) => r.outcome !== "promoted")).toBe(true);
  });
});
