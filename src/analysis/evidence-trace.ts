// A counter check's evidence over time, kept in its status for the dashboard's evidence plot
// (pure). One point per tick: when, the weight, the canary's share of the requests the proxy
// really served in that tick, and the judge's statistic; with the boundaries it decides at.
// The trace is bounded (EVIDENCE_POINTS): when full, every other point of its older half goes,
// so an hour-long step still fits in a few kilobytes of status while the latest ticks, and the
// one that decided, stay exact.
import type { EvidenceTrace } from "../api/types.js";
import type { JudgeVerdict, TickCounts } from "./judge.js";

export const EVIDENCE_POINTS = 120;

const round = (x: number, digits: number) => Number(x.toFixed(digits));

export function traceEvidence(
  trace: EvidenceTrace | undefined,
  at: string,
  weight: number,
  counts: TickCounts,
  verdict: Pick<JudgeVerdict, "evidence">,
): EvidenceTrace {
  const served = counts.canary.requests + counts.stable.requests;
  const share = served > 0 ? round(counts.canary.requests / served, 4) : null;
  const statistic = verdict.evidence ? round(verdict.evidence.statistic, 4) : null;
  let points = [...(trace?.points ?? []), [Math.round(Date.parse(at) / 1000), weight, share, statistic] as EvidenceTrace["points"][number]];
  if (points.length > EVIDENCE_POINTS) {
    const half = Math.floor(points.length / 2);
    points = [...points.slice(0, half).filter((_, i) => i % 2 === 0), ...points.slice(half)];
  }
  return {
    ...(verdict.evidence
      ? {
          reject: round(verdict.evidence.reject, 4),
          ...(verdict.evidence.accept !== undefined ? { accept: round(verdict.evidence.accept, 4) } : {}),
        }
      : trace?.reject !== undefined
        ? { reject: trace.reject, ...(trace.accept !== undefined ? { accept: trace.accept } : {}) }
        : {}),
    points,
  };
}
