// One analysis tick, as a pure function: the previous analysis status and a fresh sample of
// the counters in, the next analysis status and an outcome out. Everything the next tick needs
// is in the returned status (which the operator writes to the Rollout), so a restart is a
// non-event.
import { parseDuration } from "../api/duration.js";
import type { AnalysisPolicySpec, AnalysisStatus, ArmCounts, StopAction } from "../api/types.js";
import { differenceCounters, type SeriesValues } from "./counters.js";
import type { Judge } from "./judge.js";
import { thresholdJudge } from "./threshold-judge.js";

export interface CounterSample {
  canaryRequests: SeriesValues;
  canaryErrors: SeriesValues;
  stableRequests: SeriesValues;
  stableErrors: SeriesValues;
}

export type Sample = { at: string; ok: true; counters: CounterSample } | { at: string; ok: false; error: string };

export interface AnalysisSettings {
  intervalMs: number;
  minRequests: number;
  noTrafficTimeoutMs: number;
  noTrafficAction: StopAction;
  queryErrorLimit: number;
  queryErrorAction: StopAction;
  judge: Judge;
}

export function analysisSettings(policy: AnalysisPolicySpec): AnalysisSettings {
  const minRequests = policy.errorRate.minRequests ?? 20;
  const threshold = policy.errorRate.judge.threshold;
  if (!threshold) throw new Error("the AnalysisPolicy sets no judge (errorRate.judge.threshold)");
  return {
    intervalMs: parseDuration(policy.interval ?? "15s"),
    minRequests,
    noTrafficTimeoutMs: parseDuration(policy.errorRate.noTraffic?.timeout ?? "10m"),
    noTrafficAction: policy.errorRate.noTraffic?.action ?? "Abort",
    queryErrorLimit: policy.queryErrors?.limit ?? 4,
    queryErrorAction: policy.queryErrors?.action ?? "Abort",
    judge: thresholdJudge({ maxErrorRate: threshold.maxErrorRate, failureLimit: threshold.failureLimit ?? 0, minRequests }),
  };
}

export type AnalysisOutcome =
  | { kind: "baseline" }
  | { kind: "pass" | "continue" | "inconclusive"; reason: string; explanation: string }
  | { kind: "fail"; reason: string; explanation: string }
  | { kind: "error"; reason: string; explanation: string }
  | { kind: "stop"; action: StopAction; reason: string; explanation: string };

export function startAnalysis(revision: string, now: Date, judge: Judge): AnalysisStatus {
  const zero = (): ArmCounts => ({ requests: 0, errors: 0 });
  return {
    revision,
    startedAt: now.toISOString(),
    canary: zero(),
    stable: zero(),
    judgeState: judge.initialState(),
    passesAtWeight: 0,
    consecutiveErrors: 0,
    decision: "Pending",
  };
}

export function analysisDue(analysis: AnalysisStatus | undefined, settings: AnalysisSettings, now: Date): boolean {
  if (!analysis?.lastSampleAt) return true;
  return now.getTime() - Date.parse(analysis.lastSampleAt) >= settings.intervalMs;
}

/** Milliseconds until the next sample is due (0 when due now). */
export function untilNextSample(analysis: AnalysisStatus | undefined, settings: AnalysisSettings, now: Date): number {
  if (!analysis?.lastSampleAt) return 0;
  return Math.max(0, Date.parse(analysis.lastSampleAt) + settings.intervalMs - now.getTime());
}

/** The analysis restarts its "passes at this weight" count whenever the weight changes. */
export function atWeight(analysis: AnalysisStatus, weight: number, now: Date): AnalysisStatus {
  if (analysis.weightJudged === weight) return analysis;
  return { ...analysis, weightJudged: weight, passesAtWeight: 0, weightSince: now.toISOString() };
}

export function analysisTick(
  previous: AnalysisStatus,
  sample: Sample,
  settings: AnalysisSettings,
): { analysis: AnalysisStatus; outcome: AnalysisOutcome } {
  const at = sample.at;
  if (!sample.ok) {
    const consecutiveErrors = (previous.consecutiveErrors ?? 0) + 1;
    const analysis: AnalysisStatus = {
      ...previous,
      lastSampleAt: at,
      consecutiveErrors,
      decision: "Error",
      reason: "QueryFailed",
      explanation: sample.error,
    };
    if (consecutiveErrors >= settings.queryErrorLimit) {
      return {
        analysis,
        outcome: {
          kind: "stop",
          action: settings.queryErrorAction,
          reason: "PrometheusUnavailable",
          explanation: `${consecutiveErrors} Prometheus queries in a row failed (limit ${settings.queryErrorLimit}); last error: ${sample.error}`,
        },
      };
    }
    return {
      analysis,
      outcome: {
        kind: "error",
        reason: "QueryFailed",
        explanation: `Prometheus query failed (${consecutiveErrors} of ${settings.queryErrorLimit} in a row): ${sample.error}`,
      },
    };
  }

  const last = previous.lastCounters;
  const canaryRequests = differenceCounters(last?.canaryRequests, sample.counters.canaryRequests);
  const canaryErrors = differenceCounters(last?.canaryErrors, sample.counters.canaryErrors);
  const stableRequests = differenceCounters(last?.stableRequests, sample.counters.stableRequests);
  const stableErrors = differenceCounters(last?.stableErrors, sample.counters.stableErrors);
  const lastCounters = {
    canaryRequests: canaryRequests.next,
    canaryErrors: canaryErrors.next,
    stableRequests: stableRequests.next,
    stableErrors: stableErrors.next,
  };
  const base: AnalysisStatus = { ...previous, lastSampleAt: at, lastCounters, consecutiveErrors: 0 };
  if (!last) {
    return {
      analysis: {
        ...base,
        decision: "Pending",
        reason: "Baseline",
        explanation: "first reading of the counters; differences start with the next one",
      },
      outcome: { kind: "baseline" },
    };
  }

  // Errors can never exceed requests; a scrape that saw an error before its request is clamped.
  const tick = {
    canary: { requests: canaryRequests.increase, errors: Math.min(canaryErrors.increase, canaryRequests.increase) },
    stable: { requests: stableRequests.increase, errors: Math.min(stableErrors.increase, stableRequests.increase) },
  };
  const verdict = settings.judge.tick(previous.judgeState ?? settings.judge.initialState(), tick);
  const totals = {
    canary: { requests: previous.canary.requests + tick.canary.requests, errors: previous.canary.errors + tick.canary.errors },
    stable: { requests: previous.stable.requests + tick.stable.requests, errors: previous.stable.errors + tick.stable.errors },
  };
  const conclusive = verdict.decision !== "inconclusive";
  const analysis: AnalysisStatus = {
    ...base,
    ...totals,
    window: { ...tick, startedAt: previous.lastSampleAt ?? previous.startedAt },
    judgeState: verdict.state,
    passesAtWeight: (previous.passesAtWeight ?? 0) + (verdict.decision === "pass" ? 1 : 0),
    lastConclusiveAt: conclusive ? at : previous.lastConclusiveAt,
    decision:
      verdict.decision === "fail"
        ? "Fail"
        : verdict.decision === "inconclusive"
          ? "Inconclusive"
          : verdict.decision === "pass"
            ? "Pass"
            : "Pending",
    reason: verdict.reason,
    explanation: verdict.explanation,
  };
  if (verdict.decision === "fail") return { analysis, outcome: { kind: "fail", reason: verdict.reason, explanation: verdict.explanation } };
  if (verdict.decision === "inconclusive") {
    // Quiet since the last conclusive interval, but never counted from before the canary got its
    // current weight (a long manual pause at weight 0 is not "no traffic").
    const since = Math.max(
      Date.parse(previous.lastConclusiveAt ?? previous.startedAt),
      Date.parse(previous.weightSince ?? previous.startedAt),
    );
    const quietMs = Date.parse(at) - since;
    if (quietMs >= settings.noTrafficTimeoutMs) {
      return {
        analysis,
        outcome: {
          kind: "stop",
          action: settings.noTrafficAction,
          reason: "NoTraffic",
          explanation: `no conclusive analysis interval for ${Math.round(quietMs / 1000)} s (timeout ${Math.round(settings.noTrafficTimeoutMs / 1000)} s): ${verdict.explanation}`,
        },
      };
    }
  }
  return { analysis, outcome: { kind: verdict.decision, reason: verdict.reason, explanation: verdict.explanation } };
}
