// The sequential judges against closed forms and hand-computed paths (analysis.md).
import { describe, expect, it } from "vitest";
import { analysisTick, atWeight, startAnalysis } from "../../src/analysis/analysis-tick.js";
import { analysisSettings, type CounterCheckSettings } from "../../src/analysis/checks.js";
import type { TickCounts } from "../../src/analysis/judge.js";
import { conditionalSprtJudge, guardedJudge, mixtureSprtJudge, sloSprtJudge } from "../../src/analysis/sequential-judges.js";
import {
  boundaries,
  canaryErrorShare,
  conditionalIncrement,
  expectedSampleNumberH1,
  klBernoulli,
  logMeanExp,
  oneSampleIncrement,
  sampleRatioZ,
} from "../../src/analysis/sprt.js";
import type { AnalysisPolicySpec, ErrorRateCheck } from "../../src/api/types.js";
import { Random } from "../../src/simulated-app/random.js";
import { at, reading } from "./fixtures.js";

const tick = (nc: number, ec: number, ns: number, es: number): TickCounts => ({
  canary: { requests: nc, errors: ec },
  stable: { requests: ns, errors: es },
});

describe("SPRT arithmetic", () => {
  it("boundaries: a = ln(1/α), b = ln(β/(1−α))", () => {
    const b = boundaries(0.01, 0.05);
    expect(b.reject).toBeCloseTo(4.60517, 5);
    expect(b.accept).toBeCloseTo(-2.98568, 5);
  });

  it("the canary's expected share of errors: π = w·RR/(w·RR + 1 − w)", () => {
    expect(canaryErrorShare(0.1, 1)).toBeCloseTo(0.1, 12);
    expect(canaryErrorShare(0.1, 2)).toBeCloseTo(0.181818, 6);
  });

  it("a hand-computed conditional log-likelihood path", () => {
    // w = 0.1, r1 = 2: ln(π1/π0) = 0.597837, ln((1−π1)/(1−π0)) = −0.0953102
    expect(conditionalIncrement(2, 3, 0.1, 2)).toBeCloseTo(2 * 0.597837 + 3 * -0.0953102, 5);
    const judge = conditionalSprtJudge({ alpha: 0.01, beta: 0.05, relativeRisk: 2, minRequests: 0 });
    let state = judge.initialState();
    const path: number[] = [];
    for (const t of [tick(100, 2, 900, 3), tick(100, 0, 900, 5), tick(100, 4, 900, 1)]) {
      state = judge.tick(state, t).state;
      path.push(state.s ?? Number.NaN);
    }
    expect(path[0]).toBeCloseTo(0.909743, 5);
    expect(path[1]).toBeCloseTo(0.909743 + 5 * -0.0953102, 5);
    expect(path[2]).toBeCloseTo(0.909743 + 5 * -0.0953102 + 4 * 0.597837 + 1 * -0.0953102, 5);
  });

  it("a hand-computed one-sample increment, and Wald's expected sample number (the floor)", () => {
    expect(oneSampleIncrement(100, 3, 0.005, 0.05)).toBeCloseTo(3 * Math.log(10) + 97 * Math.log(0.95 / 0.995), 6);
    expect(klBernoulli(0.05, 0.005)).toBeCloseTo(0.071162, 5);
    expect(expectedSampleNumberH1(0.005, 0.05, 0.01, 0.05)).toBeCloseTo(59.38, 1);
  });

  it("logMeanExp averages likelihood ratios without overflow", () => {
    expect(logMeanExp([2, 2, 2])).toBeCloseTo(2, 12);
    expect(logMeanExp([0, Math.log(3)])).toBeCloseTo(Math.log(2), 12);
    expect(logMeanExp([1000, 1000])).toBeCloseTo(1000, 9);
  });

  it("sample-ratio z: the canary's share against its configured weight", () => {
    expect(sampleRatioZ(100, 1000, 10)).toBe(0);
    expect(sampleRatioZ(50, 1000, 10)).toBeCloseTo(-50 / Math.sqrt(90), 9);
  });
});

describe("sequential judges", () => {
  it("the one-sample test's mean sample number under a bad canary matches Wald's approximation (seeded)", () => {
    const judge = sloSprtJudge({ alpha: 0.01, beta: 0.05, maxErrorRate: 0.005, burnErrorRate: 0.05, minRequests: 0 });
    const random = new Random(7);
    let total = 0;
    let rejected = 0;
    const runs = 4000;
    for (let r = 0; r < runs; r++) {
      let state = judge.initialState();
      for (let n = 1; n <= 5000; n++) {
        const v = judge.tick(state, tick(1, random.bernoulli(0.05) ? 1 : 0, 0, 0));
        state = v.state;
        if (v.decision === "fail" || v.decision === "pass") {
          total += n;
          if (v.decision === "fail") rejected += 1;
          break;
        }
      }
    }
    const mean = total / runs;
    // Wald's figure ignores the overshoot past the boundary, so the real mean is a little higher.
    expect(mean).toBeGreaterThan(55);
    expect(mean).toBeLessThan(75);
    expect(rejected / runs).toBeGreaterThan(0.93);
  });

  it("a tick without canary requests is inconclusive; quiet ticks never pass before minRequests", () => {
    const judge = conditionalSprtJudge({ alpha: 0.01, beta: 0.05, relativeRisk: 2, minRequests: 500 });
    expect(judge.tick(judge.initialState(), tick(0, 0, 900, 5)).decision).toBe("inconclusive");
    let state = judge.initialState();
    let last = "";
    for (let i = 0; i < 4; i++) {
      const v = judge.tick(state, tick(100, 0, 900, 40));
      state = v.state;
      last = v.decision;
    }
    expect(state.s).toBeLessThan(boundaries(0.01, 0.05).accept);
    expect(last).toBe("continue"); // 400 canary requests < minRequests
    expect(judge.tick(state, tick(100, 0, 900, 0)).decision).toBe("pass");
  });

  it("an incident that multiplies both arms' errors alike does not move the comparison toward rollback", () => {
    const judge = conditionalSprtJudge({ alpha: 0.01, beta: 0.05, relativeRisk: 2, minRequests: 0 });
    // Errors split exactly as the traffic is (w = 0.1): the statistic goes down, not up.
    const v = judge.tick(judge.initialState(), tick(1000, 25, 9000, 225));
    expect(v.state.s).toBeLessThan(0);
    expect(v.decision).not.toBe("fail");
  });

  it("explains itself in words: the ratio to stable and how far toward the boundary", () => {
    const judge = conditionalSprtJudge({ alpha: 0.01, beta: 0.05, relativeRisk: 2, minRequests: 0 });
    const v = judge.tick(judge.initialState(), tick(100, 3, 900, 6));
    expect(v.explanation).toMatch(/canary 4\.5× stable's error rate \(3\.00 % vs 0\.67 %\); \d+ % of the way to the rollback boundary/);
  });

  it("the mixture test rolls a 10× canary back and keeps going on a good one", () => {
    const judge = mixtureSprtJudge({ alpha: 0.01, beta: 0.05, minRequests: 0 });
    let state = judge.initialState();
    let decision = "";
    for (let i = 0; i < 10 && decision !== "fail"; i++) {
      const v = judge.tick(state, tick(10, 1, 90, 0));
      state = v.state;
      decision = v.decision;
    }
    expect(decision).toBe("fail");
  });

  it("the SLO guard fails a canary burning its budget even when stable is as bad", () => {
    const judge = guardedJudge(
      conditionalSprtJudge({ alpha: 0.01, beta: 0.05, relativeRisk: 2, minRequests: 0 }),
      sloSprtJudge({ alpha: 0.01, beta: 0.05, maxErrorRate: 0.001, minRequests: 0 }),
    );
    const v = judge.tick(judge.initialState(), tick(200, 10, 1800, 90));
    expect(v.decision).toBe("fail");
    expect(v.reason).toBe("SloBurnRateTooHigh");
  });
});

describe("sequential analysis in the tick", () => {
  const policy: AnalysisPolicySpec = {
    interval: "1s",
    errorRate: {
      requests: "r",
      errors: "e",
      judge: { sequential: { alpha: 0.01, beta: 0.05, relativeRisk: 2, minStepDuration: "30s" } },
      minRequests: 0,
    },
  };

  it("α is divided among the analysed steps", () => {
    const settings = analysisSettings(
      { ...policy, errorRate: { ...(policy.errorRate as ErrorRateCheck), judge: { sequential: { alpha: 0.02, relativeRisk: 2 } } } },
      { analysedSteps: 2 },
    );
    // With α/2 = 0.01 the rollback boundary is ln(100).
    const judge = (settings.checks[0] as CounterCheckSettings).judge;
    expect(judge.tick(judge.initialState(), tick(10, 0, 90, 0)).explanation).toMatch(/roll back at 4\.61/);
  });

  it("holds a pass until the minimum step duration; restarts the test at a new weight", () => {
    const settings = analysisSettings(policy, { analysedSteps: 1 });
    let a = atWeight(startAnalysis("r", at(0), settings), 10, at(0), settings);
    const c = (nc: number, ec: number, ns: number, es: number) => ({
      canaryRequests: { x: nc },
      canaryErrors: { x: ec },
      stableRequests: { x: ns },
      stableErrors: { x: es },
    });
    a = analysisTick(a, { at: at(0).toISOString(), ok: true, readings: reading(c(0, 0, 0, 0)) }, settings).analysis;
    const early = analysisTick(a, { at: at(5).toISOString(), ok: true, readings: reading(c(500, 0, 4500, 60)) }, settings);
    expect(early.outcome.kind).toBe("continue");
    expect(early.outcome.kind === "continue" && early.outcome.reason).toBe("MinStepDuration");
    const late = analysisTick(early.analysis, { at: at(31).toISOString(), ok: true, readings: reading(c(600, 0, 5400, 61)) }, settings);
    expect(late.outcome.kind).toBe("pass");
    const next = atWeight(late.analysis, 50, at(32), settings);
    expect(next.checks[0]?.judgeState?.s).toBe(0);
    expect(next.passesAtWeight).toBe(0);
  });

  it("stops on a sample-ratio mismatch (the canary gets far less than its weight)", () => {
    const settings = analysisSettings({
      ...policy,
      errorRate: { ...(policy.errorRate as ErrorRateCheck), judge: { sequential: { relativeRisk: 2 } } },
    });
    let a = atWeight(startAnalysis("r", at(0), settings), 50, at(0), settings);
    let outcome = "";
    let canary = 0;
    let stable = 0;
    for (let t = 0; t < 8; t++) {
      canary += 50;
      stable += 500;
      const r = analysisTick(
        a,
        {
          at: at(t * 5).toISOString(),
          ok: true,
          readings: reading({ canaryRequests: { x: canary }, canaryErrors: {}, stableRequests: { x: stable }, stableErrors: {} }),
        },
        settings,
      );
      a = r.analysis;
      outcome = r.outcome.kind === "stop" ? r.outcome.reason : outcome;
    }
    expect(outcome).toBe("SampleRatioMismatch");
  });

  it("a weight the router applies seconds late does not trip the sample-ratio check", () => {
    const settings = analysisSettings({
      ...policy,
      errorRate: { ...(policy.errorRate as ErrorRateCheck), judge: { sequential: { relativeRisk: 2 } } },
    });
    let a = atWeight(startAnalysis("r", at(0), settings), 50, at(0), settings);
    let canary = 0;
    let stable = 0;
    for (let t = 1; t <= 30; t++) {
      // 100 req/s; the router still sends 20 % to the canary for the first 8 s, then 50 %.
      const share = t <= 8 ? 0.2 : 0.5;
      canary += 100 * share;
      stable += 100 * (1 - share);
      const r = analysisTick(
        a,
        {
          at: at(t).toISOString(),
          ok: true,
          readings: reading({ canaryRequests: { x: canary }, canaryErrors: {}, stableRequests: { x: stable }, stableErrors: {} }),
        },
        settings,
      );
      a = r.analysis;
      expect(r.outcome.kind === "stop" ? r.outcome.reason : "").not.toBe("SampleRatioMismatch");
    }
  });
});
