// One analysis tick, as a pure function: the previous analysis status and a fresh sample of
// every check in, the next analysis status and one outcome out. Each check is ticked on its own
// (src/analysis/counter-check.ts, src/analysis/query-check.ts); this module combines them: one
// failing check fails the canary, a step passes only when every check passes, and no data is
// never a pass. Everything the next tick needs is in the returned status (which the operator
// writes to the Rollout), so a restart is a non-event.
import type { AnalysisStatus, CheckStatus, StopAction } from "../api/types.js";
import type { AnalysisSettings, CheckSettings } from "./checks.js";
import { type CounterReading, counterCheckAtWeight, counterCheckTick, startCounterCheck } from "./counter-check.js";
import type { JudgeDecision, JudgeVerdict } from "./judge.js";
import { queryCheckTick, startQueryCheck, type ValueReading } from "./query-check.js";

/** Why a sample failed: an outage is retried; a broken query or refused credentials are not
 * going to fix themselves, so they stop the analysis at once. */
export type SampleErrorKind = "unavailable" | "invalid" | "unauthorized";

export type CheckReading = CounterReading | ValueReading;

export type Sample =
  | {
      at: string;
      ok: true;
      /** Check name → what was read for it. */
      readings: Record<string, CheckReading>;
    }
  | { at: string; ok: false; error: string; kind?: SampleErrorKind };

export type AnalysisOutcome =
  | { kind: "baseline" }
  | { kind: "pass" | "continue" | "inconclusive"; reason: string; explanation: string }
  | { kind: "fail"; reason: string; explanation: string; check: string }
  | { kind: "error"; reason: string; explanation: string }
  | { kind: "stop"; action: StopAction; reason: string; explanation: string; check?: string };

const startCheck = (c: CheckSettings): CheckStatus => (c.kind === "query" ? startQueryCheck(c) : startCounterCheck(c));

export function startAnalysis(revision: string, now: Date, settings: AnalysisSettings): AnalysisStatus {
  return {
    revision,
    startedAt: now.toISOString(),
    passesAtWeight: 0,
    consecutiveErrors: 0,
    decision: "Pending",
    checks: settings.checks.map(startCheck),
  };
}

/** Each check's state, in the policy's order: a check the status does not hold yet (the policy
 * gained it, or the status predates checks) starts afresh. */
function alignChecks(analysis: AnalysisStatus, settings: AnalysisSettings): CheckStatus[] {
  return settings.checks.map(
    (c) => (analysis.checks ?? []).find((s) => s.name === c.name && s.kind === c.kind) ?? atCurrentWeight(startCheck(c), c, analysis),
  );
}

/** A check that starts mid-analysis starts at the current weight. */
const atCurrentWeight = (check: CheckStatus, settings: CheckSettings, analysis: AnalysisStatus) =>
  settings.kind !== "query" && analysis.weightJudged !== undefined ? counterCheckAtWeight(check, settings) : check;

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
export function atWeight(analysis: AnalysisStatus, weight: number, now: Date, settings: AnalysisSettings): AnalysisStatus {
  const checks = alignChecks(analysis, settings);
  if (analysis.weightJudged === weight) return { ...analysis, checks };
  return {
    ...analysis,
    weightJudged: weight,
    passesAtWeight: 0,
    weightSince: now.toISOString(),
    checks: checks.map((check, i) => {
      const c = settings.checks[i];
      return c && c.kind !== "query" ? counterCheckAtWeight(check, c) : check;
    }),
  };
}

interface CheckVerdict {
  name: string;
  /** undefined: the check took its baseline this tick. */
  verdict?: JudgeVerdict;
  sampleRatioMismatch?: string;
}

export function analysisTick(
  previous: AnalysisStatus,
  sample: Sample,
  settings: AnalysisSettings,
): { analysis: AnalysisStatus; outcome: AnalysisOutcome } {
  const at = sample.at;
  if (!sample.ok) return failedSample(previous, sample, settings);

  const previousChecks = alignChecks(previous, settings);
  const timing = {
    at,
    previousSampleAt: previous.lastSampleAt ?? previous.startedAt,
    weightSince: previous.weightSince ?? previous.startedAt,
    weight: previous.weightJudged ?? 0,
  };
  const checks: CheckStatus[] = [];
  const verdicts: CheckVerdict[] = [];
  settings.checks.forEach((c, i) => {
    const before = previousChecks[i] as CheckStatus;
    const reading = sample.readings[c.name];
    if (c.kind === "query") {
      const r = queryCheckTick(before, reading?.kind === "value" ? reading : { kind: "value", value: undefined }, c);
      checks.push(r.status);
      verdicts.push({ name: c.name, verdict: r.verdict });
      return;
    }
    if (reading?.kind !== "counters") throw new Error(`no counter reading for check ${c.name}`);
    const r = counterCheckTick(before, reading, c, timing);
    checks.push(r.status);
    verdicts.push(
      r.baseline
        ? { name: c.name }
        : { name: c.name, verdict: r.verdict, ...(r.sampleRatioMismatch ? { sampleRatioMismatch: r.sampleRatioMismatch } : {}) },
    );
  });
  const base: AnalysisStatus = { ...previous, lastSampleAt: at, consecutiveErrors: 0, checks };
  delete base.decidedBy;

  const counterVerdicts = verdicts.filter((_, i) => settings.checks[i]?.kind !== "query");
  const failed = verdicts.find((v) => v.verdict?.decision === "fail");
  if (failed?.verdict) {
    const explanation = `${failed.name}: ${failed.verdict.explanation}`;
    return {
      analysis: { ...base, decision: "Fail", reason: failed.verdict.reason, explanation, decidedBy: failed.name },
      outcome: { kind: "fail", reason: failed.verdict.reason, explanation, check: failed.name },
    };
  }
  const mismatch = verdicts.find((v) => v.sampleRatioMismatch);
  if (mismatch?.sampleRatioMismatch) {
    const explanation = `${mismatch.name}: ${mismatch.sampleRatioMismatch}`;
    return {
      analysis: { ...base, decision: "Fail", reason: "SampleRatioMismatch", explanation, decidedBy: mismatch.name },
      outcome: { kind: "stop", action: "Abort", reason: "SampleRatioMismatch", explanation, check: mismatch.name },
    };
  }
  if (counterVerdicts.length > 0 && counterVerdicts.every((v) => v.verdict === undefined)) {
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

  const decision = combined(verdicts);
  const explanation = describeChecks(verdicts);
  const reason = verdicts.length === 1 ? (verdicts[0]?.verdict?.reason ?? "Baseline") : COMBINED_REASON[decision];
  const conclusive = decision !== "inconclusive";
  const analysis: AnalysisStatus = {
    ...base,
    passesAtWeight: (previous.passesAtWeight ?? 0) + (decision === "pass" ? 1 : 0),
    lastConclusiveAt: conclusive ? at : previous.lastConclusiveAt,
    decision: decision === "inconclusive" ? "Inconclusive" : decision === "pass" ? "Pass" : "Pending",
    reason,
    explanation,
  };
  if (decision === "inconclusive") {
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
          explanation: `no conclusive analysis interval for ${Math.round(quietMs / 1000)} s (timeout ${Math.round(settings.noTrafficTimeoutMs / 1000)} s): ${explanation}`,
        },
      };
    }
  }
  return { analysis, outcome: { kind: decision, reason, explanation } };
}

const COMBINED_REASON = { pass: "AllChecksPassed", continue: "Collecting", inconclusive: "NotEnoughData" } as const;

/** Every check passing is a pass; a check still collecting (or taking its baseline) holds the
 * step; a check with too little data, and none collecting, makes the interval inconclusive. */
function combined(verdicts: CheckVerdict[]): Exclude<JudgeDecision, "fail"> {
  if (verdicts.every((v) => v.verdict?.decision === "pass")) return "pass";
  if (verdicts.some((v) => v.verdict === undefined || v.verdict.decision === "continue")) return "continue";
  return "inconclusive";
}

/** "error-rate: …; latency-300ms: …" — each check in its own words (one check: just its words). */
function describeChecks(verdicts: CheckVerdict[]): string {
  const words = (v: CheckVerdict) => v.verdict?.explanation ?? "first reading of the counters";
  if (verdicts.length === 1 && verdicts[0]) return words(verdicts[0]);
  return verdicts
    .map((v) => `${v.name}: ${words(v)}`)
    .join("; ")
    .slice(0, 4000);
}

function failedSample(
  previous: AnalysisStatus,
  sample: Extract<Sample, { ok: false }>,
  settings: AnalysisSettings,
): { analysis: AnalysisStatus; outcome: AnalysisOutcome } {
  const at = sample.at;
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
