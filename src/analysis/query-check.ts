// One tick of a query check, as Argo Rollouts and Flagger users know it: one number per interval
// held against max and/or min; more than `failureLimit` intervals out of bounds (counted over
// the whole analysis, not in a row) fail the canary. No number is never a pass.
import type { CheckStatus } from "../api/types.js";
import type { QueryCheckSettings } from "./checks.js";
import { DECISION_WORD, type JudgeVerdict } from "./judge.js";

export interface ValueReading {
  kind: "value";
  /** Undefined: the query returned no series. */
  value: number | undefined;
}

export function startQueryCheck(settings: QueryCheckSettings): CheckStatus {
  return { name: settings.name, kind: "query", judgeState: { failures: 0 }, decision: "Pending" };
}

const bounds = (s: QueryCheckSettings) =>
  [s.min !== undefined ? `at least ${s.min}` : "", s.max !== undefined ? `at most ${s.max}` : ""].filter(Boolean).join(" and ");

export function queryCheckTick(
  previous: CheckStatus,
  reading: ValueReading,
  settings: QueryCheckSettings,
): { status: CheckStatus; verdict: JudgeVerdict } {
  const failures = previous.judgeState?.failures ?? 0;
  const { value } = reading;
  let verdict: JudgeVerdict;
  if (value === undefined || Number.isNaN(value)) {
    verdict = {
      state: { failures },
      decision: "inconclusive",
      reason: "NoData",
      explanation: "the query returned no number in this interval (no data is never a pass)",
    };
  } else if ((settings.max !== undefined && value > settings.max) || (settings.min !== undefined && value < settings.min)) {
    const now = failures + 1;
    const failed = now > settings.failureLimit;
    verdict = {
      state: { failures: now },
      decision: failed ? "fail" : "continue",
      reason: failed ? "QueryOutOfBounds" : "IntervalOutOfBounds",
      explanation: `value ${formatValue(value)} is out of bounds (${bounds(settings)}); ${now} interval(s) out, ${settings.failureLimit} tolerated`,
    };
  } else {
    verdict = {
      state: { failures },
      decision: "pass",
      reason: "QueryWithinBounds",
      explanation: `value ${formatValue(value)} is within bounds (${bounds(settings)})`,
    };
  }
  const status: CheckStatus = {
    ...previous,
    judgeState: verdict.state,
    decision: DECISION_WORD[verdict.decision],
    reason: verdict.reason,
    explanation: verdict.explanation,
  };
  if (value === undefined || Number.isNaN(value)) delete status.value;
  else status.value = value;
  return { status, verdict };
}

const formatValue = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
