// One analysis tick, as a pure function: the previous analysis status and a fresh sample of
// the counters in, the next analysis status and an outcome out. Everything the next tick needs
// is in the returned status (which the operator writes to the Rollout), so a restart is a
// non-event.
import { parseDuration } from "../api/duration.js";
import type { AnalysisPolicySpec, AnalysisStatus, ArmCounts, StopAction } from "../api/types.js";
import { differenceCounters, type SeriesValues } from "./counters.js";
import type { Judge, JudgeVerdict } from "./judge.js";
import { conditionalSprtJudge, guardedJudge, mixtureSprtJudge, sloSprtJudge } from "./sequential-judges.js";
import { sampleRatioZ } from "./sprt.js";
import { thresholdJudge } from "./threshold-judge.js";

/** How long after a weight change the sample-ratio check waits before counting traffic. */
export const SAMPLE_RATIO_SETTLE_MS = 15_000;
export interface CounterSample {
  canaryRequests: SeriesValues;
  canaryErrors: SeriesValues;
  stableRequests: SeriesValues;
  stableErrors: SeriesValues;
}

/** Why a sample failed: an outage is retried; a broken query or refused credentials are not
 * going to fix themselves, so they stop the analysis at once. */
export type SampleErrorKind = "unavailable" | "invalid" | "unauthorized";

export type Sample =
  | {
      at: string;
      ok: true;
      counters: CounterSample;
      /** The Prometheus evaluation instant of the four readings (Unix seconds). */
      evaluatedAt?: number;
      /** For series the previous snapshot lacked: the value that is history, not new (see
       * PrometheusReader.baselinesOf). A series new and absent here was born since. */
      baselines?: Partial<CounterSample>;
    }
  | { at: string; ok: false; error: string; kind?: SampleErrorKind };

export interface AnalysisSettings {
  intervalMs: number;
  minRequests: number;
  noTrafficTimeoutMs: number;
  noTrafficAction: StopAction;
  queryErrorLimit: number;
  queryErrorAction: StopAction;
  judge: Judge;
  /** Sequential judges: no pass before this long at a weight; an undecided step passes after the max. */
  minStepDurationMs: number;
  maxStepDurationMs: number;
  /** Sample-ratio mismatch limit in standard deviations (0: off). */
  maxSampleRatioZ: number;
}

export interface RolloutAnalysisContext {
  /** How many steps send traffic to the canary (setWeight > 0): α is divided among them. */
  analysedSteps: number;
}

/** The judge a policy asks for, with α divided among the analysed steps (sequential tests). */
export function judgeFor(policy: AnalysisPolicySpec, ctx: RolloutAnalysisContext): Judge {
  const check = policy.errorRate;
  const minRequests = check.minRequests ?? 20;
  const { threshold, sequential } = check.judge;
  const steps = Math.max(1, ctx.analysedSteps);
  let judge: Judge;
  if (sequential) {
    const alpha = (sequential.alpha ?? 0.01) / steps;
    const beta = sequential.beta ?? 0.05;
    judge =
      sequential.relativeRisk !== undefined
        ? conditionalSprtJudge({ alpha, beta, relativeRisk: sequential.relativeRisk, minRequests })
        : mixtureSprtJudge({ alpha, beta, minRequests });
  } else if (threshold) {
    judge = thresholdJudge({ maxErrorRate: threshold.maxErrorRate, failureLimit: threshold.failureLimit ?? 0, minRequests });
  } else {
    throw new Error("the AnalysisPolicy sets no judge: set errorRate.judge.sequential or errorRate.judge.threshold");
  }
  if (check.slo) {
    const guard = sloSprtJudge({
      alpha: (sequential?.alpha ?? 0.01) / steps,
      beta: sequential?.beta ?? 0.05,
      maxErrorRate: check.slo.maxErrorRate,
      burnErrorRate: check.slo.burnErrorRate,
      minRequests,
    });
    judge = guardedJudge(judge, guard);
  }
  return judge;
}

export function analysisSettings(policy: AnalysisPolicySpec, ctx: RolloutAnalysisContext = { analysedSteps: 1 }): AnalysisSettings {
  const sequential = policy.errorRate.judge.sequential;
  return {
    intervalMs: parseDuration(policy.interval ?? "15s"),
    minRequests: policy.errorRate.minRequests ?? 20,
    noTrafficTimeoutMs: parseDuration(policy.errorRate.noTraffic?.timeout ?? "10m"),
    noTrafficAction: policy.errorRate.noTraffic?.action ?? "Abort",
    queryErrorLimit: policy.queryErrors?.limit ?? 4,
    queryErrorAction: policy.queryErrors?.action ?? "Abort",
    judge: judgeFor(policy, ctx),
    minStepDurationMs: sequential?.minStepDuration ? parseDuration(sequential.minStepDuration) : 0,
    maxStepDurationMs: sequential?.maxStepDuration ? parseDuration(sequential.maxStepDuration) : Number.POSITIVE_INFINITY,
    maxSampleRatioZ: policy.errorRate.maxSampleRatioZ ?? 4,
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
export function atWeight(analysis: AnalysisStatus, weight: number, now: Date, judge: Judge): AnalysisStatus {
  if (analysis.weightJudged === weight) return analysis;
  const zero = () => ({ requests: 0, errors: 0 });
  return {
    ...analysis,
    weightJudged: weight,
    passesAtWeight: 0,
    weightSince: now.toISOString(),
    atWeight: { canary: zero(), stable: zero(), ticks: 0 },
    // A sequential test starts afresh at each weight, with its share of α.
    ...(judge.perWeight ? { judgeState: judge.initialState() } : {}),
  };
}

export function analysisTick(
  previous: AnalysisStatus,
  sample: Sample,
  settings: AnalysisSettings,
): { analysis: AnalysisStatus; outcome: AnalysisOutcome } {
  const at = sample.at;
  if (!sample.ok) {
    const consecutiveErrors = (previous.consecutiveErrors ?? 0) + 1;
    if (sample.kind === "invalid" || sample.kind === "unauthorized") {
      const reason = sample.kind === "invalid" ? "QueryInvalid" : "PrometheusUnauthorized";
      return {
        analysis: { ...previous, lastSampleAt: at, consecutiveErrors, decision: "Error", reason, explanation: sample.error },
        outcome: {
          kind: "stop",
          action: settings.queryErrorAction,
          reason,
          explanation: `${sample.error} (Prometheus itself answered, so retrying will not help; fix the AnalysisPolicy or its Secret)`,
        },
      };
    }
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
  // A series new since the last snapshot whose value is history starts from that value.
  const withHistory = (reading: keyof CounterSample): SeriesValues | undefined =>
    last ? { ...(sample.baselines?.[reading] ?? {}), ...last[reading] } : undefined;
  const canaryRequests = differenceCounters(withHistory("canaryRequests"), sample.counters.canaryRequests);
  const canaryErrors = differenceCounters(withHistory("canaryErrors"), sample.counters.canaryErrors);
  const stableRequests = differenceCounters(withHistory("stableRequests"), sample.counters.stableRequests);
  const stableErrors = differenceCounters(withHistory("stableErrors"), sample.counters.stableErrors);
  const lastCounters: AnalysisStatus["lastCounters"] = {
    canaryRequests: canaryRequests.next,
    canaryErrors: canaryErrors.next,
    stableRequests: stableRequests.next,
    stableErrors: stableErrors.next,
    ...(sample.evaluatedAt !== undefined ? { evaluatedAt: sample.evaluatedAt } : {}),
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
  const raw = settings.judge.tick(previous.judgeState ?? settings.judge.initialState(), tick);
  const here = previous.atWeight ?? { canary: { requests: 0, errors: 0 }, stable: { requests: 0, errors: 0 }, ticks: 0 };
  const elapsedAtWeight = Date.parse(at) - Date.parse(previous.weightSince ?? previous.startedAt);
  // The first ticks at a weight straddle the change, and the router may apply a new weight
  // seconds late (a busy ingress controller): the sample-ratio check counts only settled ticks.
  const settled = here.ticks >= 2 && elapsedAtWeight >= SAMPLE_RATIO_SETTLE_MS;
  const atWeightNow = {
    canary: { requests: here.canary.requests + tick.canary.requests, errors: here.canary.errors + tick.canary.errors },
    stable: { requests: here.stable.requests + tick.stable.requests, errors: here.stable.errors + tick.stable.errors },
    ticks: here.ticks + 1,
    settledCanary: (here.settledCanary ?? 0) + (settled ? tick.canary.requests : 0),
    settledTotal: (here.settledTotal ?? 0) + (settled ? tick.canary.requests + tick.stable.requests : 0),
  };
  const verdict = applyStepDurations(raw, elapsedAtWeight, atWeightNow.canary.requests, settings);
  const totals = {
    canary: { requests: previous.canary.requests + tick.canary.requests, errors: previous.canary.errors + tick.canary.errors },
    stable: { requests: previous.stable.requests + tick.stable.requests, errors: previous.stable.errors + tick.stable.errors },
  };
  const conclusive = verdict.decision !== "inconclusive";
  const analysis: AnalysisStatus = {
    ...base,
    ...totals,
    atWeight: atWeightNow,
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
  const mismatch = sampleRatioMismatch(atWeightNow, previous.weightJudged ?? 0, settings);
  if (mismatch) return { analysis, outcome: { kind: "stop", action: "Abort", reason: "SampleRatioMismatch", explanation: mismatch } };
  if (verdict.decision === "inconclusive") {
    // Quiet since the last conclusive interval, but never counted from before the canary got its
    // current weight (a long manual pause at weight 0 is not "no traffic").
    // A person who resumed an analysis pause gets a fresh no-traffic window.
    const since = Math.max(
      Date.parse(previous.lastConclusiveAt ?? previous.startedAt),
      Date.parse(previous.weightSince ?? previous.startedAt),
      Date.parse(previous.resumedAt ?? previous.startedAt),
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

/** Sequential tests: no pass before the minimum step duration; an undecided step passes at the
 * maximum one if it was never rejected and saw enough canary requests (the test is truncated:
 * false rollbacks stay bounded, small effects may slip through). */
function applyStepDurations(verdict: JudgeVerdict, elapsedMs: number, canaryRequests: number, settings: AnalysisSettings): JudgeVerdict {
  if (verdict.decision === "pass" && elapsedMs < settings.minStepDurationMs) {
    return {
      ...verdict,
      decision: "continue",
      reason: "MinStepDuration",
      explanation: `${verdict.explanation}; holding for the minimum step duration`,
    };
  }
  if (verdict.decision === "continue" && elapsedMs >= settings.maxStepDurationMs && canaryRequests >= settings.minRequests) {
    return {
      ...verdict,
      decision: "pass",
      reason: "MaxStepDurationReached",
      explanation: `${verdict.explanation}; no rollback evidence by the maximum step duration`,
    };
  }
  return verdict;
}

/**
 * The canary's measured share far below its weight means routing or readiness is broken, and
 * any comparison would be biased. Ticks before the weight has settled (the first two, and
 * any in its first SAMPLE_RATIO_SETTLE_MS) are left out: their counts straddle the change.
 */
function sampleRatioMismatch(settled: AnalysisStatus["atWeight"], weight: number, settings: AnalysisSettings): string | undefined {
  if (settings.maxSampleRatioZ <= 0 || !settled || weight <= 0 || weight >= 100) return undefined;
  const canary = settled.settledCanary ?? 0;
  const total = settled.settledTotal ?? 0;
  const w = weight / 100;
  if (total * w * (1 - w) < 25) return undefined;
  const z = sampleRatioZ(canary, total, weight);
  if (z >= -settings.maxSampleRatioZ) return undefined;
  return `the canary served ${canary} of ${total} requests (${((canary / total) * 100).toFixed(1)} %) at weight ${weight} %: ${Math.abs(z).toFixed(1)} standard deviations below its weight (limit ${settings.maxSampleRatioZ}); routing or readiness is broken, so no comparison is trustworthy`;
}
