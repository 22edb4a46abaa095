import { describe, expect, it } from "vitest";
import { analysisTick, startAnalysis } from "../../src/analysis/analysis-tick.js";
import { differenceCounters } from "../../src/analysis/counters.js";
import { parseVector, renderQuery } from "../../src/analysis/prometheus-reader.js";
import { thresholdJudge } from "../../src/analysis/threshold-judge.js";
import { at, counters, reading, settings } from "./fixtures.js";

describe("counter hygiene", () => {
  it("the first reading is a baseline: nothing counted", () => {
    expect(differenceCounters(undefined, { a: 50, b: 3 }).increase).toBe(0);
  });

  it("sums per-series increases", () => {
    expect(differenceCounters({ a: 50, b: 3 }, { a: 60, b: 5 }).increase).toBe(12);
  });

  it("a counter that went down was reset: its whole value is new", () => {
    const d = differenceCounters({ a: 50, b: 30 }, { a: 4, b: 35 });
    expect(d.increase).toBe(9);
    expect(d.resets).toBe(1);
  });

  it("a series born after the baseline counts from 0 (the first 5xx is not lost)", () => {
    const d = differenceCounters({ "status=200": 100 }, { "status=200": 110, "status=500": 1 });
    expect(d.increase).toBe(11);
    expect(d.born).toBe(1);
  });

  it("a series missing from one scrape keeps its value and is not counted twice when it returns", () => {
    const missed = differenceCounters({ a: 10, b: 20 }, { a: 12 });
    expect(missed.next.b).toBe(20);
    expect(differenceCounters(missed.next, { a: 13, b: 25 }).increase).toBe(6);
  });
});

describe("threshold judge", () => {
  const judge = thresholdJudge({ maxErrorRate: 0.05, failureLimit: 1, minRequests: 20 });
  const tick = (n: number, e: number) => ({ canary: { requests: n, errors: e }, stable: { requests: 1000, errors: 5 } });

  it("no traffic is inconclusive, never a pass", () => {
    expect(judge.tick(judge.initialState(), tick(0, 0)).decision).toBe("inconclusive");
    expect(judge.tick(judge.initialState(), tick(19, 0)).decision).toBe("inconclusive");
  });

  it("tolerates failureLimit intervals over the limit, fails on the next (counted in total, as Argo does)", () => {
    let v = judge.tick(judge.initialState(), tick(100, 10));
    expect(v.decision).toBe("continue");
    v = judge.tick(v.state, tick(100, 1));
    expect(v.decision).toBe("pass");
    v = judge.tick(v.state, tick(100, 6));
    expect(v.decision).toBe("fail");
    expect(v.explanation).toMatch(/6\.00 % \(6\/100\).*over the 5\.00 % limit/);
  });

  it("exactly at the limit passes", () => {
    expect(judge.tick(judge.initialState(), tick(100, 5)).decision).toBe("pass");
  });
});

describe("analysis tick", () => {
  it("accumulates per-arm counts across ticks and explains the last one", () => {
    let a = startAnalysis("rev2", at(0), settings());
    a = analysisTick(a, { at: at(0).toISOString(), ok: true, readings: reading(counters(0, 0, 0, 0)) }, settings()).analysis;
    const r = analysisTick(a, { at: at(10).toISOString(), ok: true, readings: reading(counters(100, 2, 900, 4)) }, settings());
    expect(r.outcome.kind).toBe("pass");
    expect(r.analysis.checks[0]?.canary).toEqual({ requests: 100, errors: 2 });
    expect(r.analysis.checks[0]?.stable).toEqual({ requests: 900, errors: 4 });
    expect(r.analysis.passesAtWeight).toBe(1);
  });

  it("a query error is an error, retried, not a failure; the count resets on success", () => {
    let a = startAnalysis("rev2", at(0), settings());
    const r1 = analysisTick(a, { at: at(1).toISOString(), ok: false, error: "boom" }, settings());
    expect(r1.outcome.kind).toBe("error");
    a = analysisTick(r1.analysis, { at: at(2).toISOString(), ok: true, readings: reading(counters(0, 0)) }, settings()).analysis;
    expect(a.consecutiveErrors).toBe(0);
  });
});

describe("Prometheus reading", () => {
  it("fills in the rollout's names and refuses unknown placeholders by name", () => {
    expect(renderQuery('x{service="{{service}}",ns="{{ namespace }}"}', { service: "a", namespace: "b" })).toBe('x{service="a",ns="b"}');
    expect(() => renderQuery("x{{{nope}}}", {})).toThrow(/\{\{nope\}\}/);
  });

  it("keeps each series apart and says what is wrong with a non-vector answer", () => {
    const v = parseVector({
      status: "success",
      data: {
        resultType: "vector",
        result: [
          { metric: { __name__: "r", status: "200" }, value: [1, "10"] },
          { metric: { status: "500" }, value: [1, "2"] },
        ],
      },
    });
    expect(v).toEqual({ "status=200": 10, "status=500": 2 });
    expect(() => parseVector({ status: "success", data: { resultType: "matrix", result: [] } })).toThrow(/instant vector/);
    expect(() => parseVector({ status: "error", errorType: "bad_data", error: "parse error" })).toThrow(/bad_data: parse error/);
  });
});
