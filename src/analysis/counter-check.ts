// One tick of one counter check (ratio or latency), as a pure function: the check's previous
// state and a fresh reading of its four counters in, its next state and a verdict out.
import type { CheckStatus } from "../api/types.js";
import type { CounterCheckSettings } from "./checks.js";
import { differenceCounters, type SeriesValues } from "./counters.js";
import { traceEvidence } from "./evidence-trace.js";
import { DECISION_WORD, type JudgeVerdict } from "./judge.js";
import { sampleRatioZ } from "./sprt.js";

/** How long after a weight change the sample-ratio check waits before counting traffic. */
export const SAMPLE_RATIO_SETTLE_MS = 15_000;

/** The four counter readings of one counter check: all events ("requests") and bad ones ("errors") per arm. */
export interface CounterSample {
  canaryRequests: SeriesValues;
  canaryErrors: SeriesValues;
  stableRequests: SeriesValues;
  stableErrors: SeriesValues;
}

export interface CounterReading {
  kind: "counters";
  counters: CounterSample;
  /** The Prometheus evaluation instant of the four readings (Unix seconds). */
  evaluatedAt?: number;
  /** For series the previous snapshot lacked: the value that is history, not new (see
   * PrometheusReader.baselinesOf). A series new and absent here was born since. */
  baselines?: Partial<CounterSample>;
}

/** What the tick shares with the rest of the analysis: its clock and the weight's. */
export interface TickTiming {
  at: string;
  /** When the previous tick was (the judged interval starts there). */
  previousSampleAt: string;
  /** When the canary got the weight it is judged at. */
  weightSince: string;
  weight: number;
}

export type CounterCheckResult =
  | { status: CheckStatus; baseline: true }
  | { status: CheckStatus; baseline: false; verdict: JudgeVerdict; sampleRatioMismatch?: string };

const zero = () => ({ requests: 0, errors: 0 });

export function startCounterCheck(settings: CounterCheckSettings): CheckStatus {
  return {
    name: settings.name,
    kind: settings.kind,
    canary: zero(),
    stable: zero(),
    judgeState: settings.judge.initialState(),
    decision: "Pending",
  };
}

/** A new weight: the counts at it start afresh, and a sequential test with its share of α. */
export function counterCheckAtWeight(check: CheckStatus, settings: CounterCheckSettings): CheckStatus {
  return {
    ...check,
    atWeight: { canary: zero(), stable: zero(), ticks: 0 },
    ...(settings.judge.perWeight ? { judgeState: settings.judge.initialState() } : {}),
  };
}

export function counterCheckTick(
  previous: CheckStatus,
  reading: CounterReading,
  settings: CounterCheckSettings,
  timing: TickTiming,
): CounterCheckResult {
  const last = previous.lastCounters;
  // A series new since the last snapshot whose value is history starts from that value.
  const withHistory = (name: keyof CounterSample): SeriesValues | undefined =>
    last ? { ...(reading.baselines?.[name] ?? {}), ...last[name] } : undefined;
  const canaryRequests = differenceCounters(withHistory("canaryRequests"), reading.counters.canaryRequests);
  const canaryErrors = differenceCounters(withHistory("canaryErrors"), reading.counters.canaryErrors);
  const stableRequests = differenceCounters(withHistory("stableRequests"), reading.counters.stableRequests);
  const stableErrors = differenceCounters(withHistory("stableErrors"), reading.counters.stableErrors);
  const lastCounters: CheckStatus["lastCounters"] = {
    canaryRequests: canaryRequests.next,
    canaryErrors: canaryErrors.next,
    stableRequests: stableRequests.next,
    stableErrors: stableErrors.next,
    ...(reading.evaluatedAt !== undefined ? { evaluatedAt: reading.evaluatedAt } : {}),
  };
  const base: CheckStatus = { ...previous, lastCounters };
  if (!last) {
    return {
      baseline: true,
      status: {
        ...base,
        decision: "Pending",
        reason: "Baseline",
        explanation: "first reading of the counters; differences start with the next one",
      },
    };
  }

  // Bad events can never exceed all events; a scrape that saw an error before its request is clamped.
  const tick = {
    canary: { requests: canaryRequests.increase, errors: Math.min(canaryErrors.increase, canaryRequests.increase) },
    stable: { requests: stableRequests.increase, errors: Math.min(stableErrors.increase, stableRequests.increase) },
  };
  const raw = settings.judge.tick(previous.judgeState ?? settings.judge.initialState(), tick);
  const here = previous.atWeight ?? { canary: zero(), stable: zero(), ticks: 0 };
  const elapsedAtWeight = Date.parse(timing.at) - Date.parse(timing.weightSince);
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
  const sinceStart = { canary: previous.canary ?? zero(), stable: previous.stable ?? zero() };
  const status: CheckStatus = {
    ...base,
    canary: { requests: sinceStart.canary.requests + tick.canary.requests, errors: sinceStart.canary.errors + tick.canary.errors },
    stable: { requests: sinceStart.stable.requests + tick.stable.requests, errors: sinceStart.stable.errors + tick.stable.errors },
    atWeight: atWeightNow,
    window: { ...tick, startedAt: timing.previousSampleAt },
    judgeState: verdict.state,
    evidence: traceEvidence(previous.evidence, timing.at, timing.weight, tick, verdict),
    decision: DECISION_WORD[verdict.decision],
    reason: verdict.reason,
    explanation: verdict.explanation,
  };
  const mismatch = sampleRatioMismatch(atWeightNow, timing.weight, settings);
  return { status, baseline: false, verdict, ...(mismatch ? { sampleRatioMismatch: mismatch } : {}) };
}

/** Sequential tests: no pass before the minimum step duration; an undecided step passes at the
 * maximum one if it was never rejected and saw enough canary requests (the test is truncated:
 * false rollbacks stay bounded, small effects may slip through). */
function applyStepDurations(
  verdict: JudgeVerdict,
  elapsedMs: number,
  canaryRequests: number,
  settings: CounterCheckSettings,
): JudgeVerdict {
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
function sampleRatioMismatch(settled: CheckStatus["atWeight"], weight: number, settings: CounterCheckSettings): string | undefined {
  if (settings.maxSampleRatioZ <= 0 || !settled || weight <= 0 || weight >= 100) return undefined;
  const canary = settled.settledCanary ?? 0;
  const total = settled.settledTotal ?? 0;
  const w = weight / 100;
  if (total * w * (1 - w) < 25) return undefined;
  const z = sampleRatioZ(canary, total, weight);
  if (z >= -settings.maxSampleRatioZ) return undefined;
  return `the canary served ${canary} of ${total} requests (${((canary / total) * 100).toFixed(1)} %) at weight ${weight} %: ${Math.abs(z).toFixed(1)} standard deviations below its weight (limit ${settings.maxSampleRatioZ}); routing or readiness is broken, so no comparison is trustworthy`;
}
