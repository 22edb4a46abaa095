// The evidence trace a counter check keeps for the dashboard's plot: one point per tick, the
// boundaries of its judge, bounded in size with the latest ticks exact.
import { describe, expect, it } from "vitest";
import { EVIDENCE_POINTS, traceEvidence } from "../../src/analysis/evidence-trace.js";
import { mixtureSprtJudge } from "../../src/analysis/sequential-judges.js";
import type { EvidenceTrace } from "../../src/api/types.js";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();

describe("the evidence trace", () => {
  it("records each tick's weight, served share and statistic, and ends on the boundary a 10× canary crossed", () => {
    const judge = mixtureSprtJudge({ alpha: 0.01, beta: 0.05, minRequests: 20 });
    let state = judge.initialState();
    let trace: EvidenceTrace | undefined;
    let decided: string | undefined;
    for (let t = 1; t <= 120 && !decided; t++) {
      const counts = { canary: { requests: 10, errors: t % 2 }, stable: { requests: 90, errors: t % 10 === 0 ? 1 : 0 } };
      const verdict = judge.tick(state, counts);
      state = verdict.state;
      trace = traceEvidence(trace, at(t), 10, counts, verdict);
      if (verdict.decision === "fail") decided = at(t);
    }
    expect(decided).toBeDefined();
    const last = trace?.points.at(-1);
    expect(last?.[0]).toBe(Date.parse(decided as string) / 1000);
    expect(last?.[1]).toBe(10);
    expect(last?.[2]).toBe(0.1);
    expect(last?.[3]).toBeGreaterThanOrEqual(trace?.reject ?? Number.POSITIVE_INFINITY);
    // Before the last point the statistic was below the boundary: the plot shows the crossing.
    expect(trace?.points.at(-2)?.[3]).toBeLessThan(trace?.reject ?? 0);
    expect(trace?.accept).toBeLessThan(0);
  });

  it("stays bounded as ticks go on, thinning the older half and keeping the newest ticks exact", () => {
    let trace: EvidenceTrace | undefined;
    const counts = { canary: { requests: 0, errors: 0 }, stable: { requests: 50, errors: 0 } };
    for (let t = 1; t <= 1000; t++) trace = traceEvidence(trace, at(t), 20, counts, {});
    const points = trace?.points ?? [];
    expect(points.length).toBeLessThanOrEqual(EVIDENCE_POINTS);
    expect(points.length).toBeGreaterThan(EVIDENCE_POINTS / 2);
    const seconds = points.map((p) => p[0] - Date.UTC(2026, 0, 1) / 1000);
    expect(seconds.at(-1)).toBe(1000);
    expect(seconds.slice(-10)).toEqual([991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
    expect([...seconds].sort((a, b) => a - b)).toEqual(seconds);
    // No canary request in a tick: no share, and no statistic from a judge that keeps none.
    expect(points.at(-1)?.slice(2)).toEqual([0, null]);
  });
});
