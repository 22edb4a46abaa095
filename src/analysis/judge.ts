// A judge turns the counts of one tick into a decision. Judges are pure: the state they keep
// between ticks is plain numbers that the operator stores in the Rollout's status, so a
// restarted operator continues the same test.

export interface TickCounts {
  canary: { requests: number; errors: number };
  stable: { requests: number; errors: number };
}

/** pass: the canary is good enough to go on; fail: roll back; continue: no decision yet but
 * the tick carried information; inconclusive: the tick carried too little to judge. */
export type JudgeDecision = "pass" | "fail" | "continue" | "inconclusive";

export type JudgeState = Record<string, number>;

export interface JudgeVerdict {
  state: JudgeState;
  decision: JudgeDecision;
  /** CamelCase, for conditions and Events. */
  reason: string;
  /** In words a release engineer understands. */
  explanation: string;
  /** The number the judge decided on and where it would decide (the dashboard's evidence plot):
   * the log-likelihood ratio and its two boundaries for a sequential test, the interval's error
   * rate and its limit for a threshold. */
  evidence?: { statistic: number; reject: number; accept?: number };
}

export interface Judge {
  readonly name: string;
  /** Sequential tests start afresh at each new weight (α is spent per analysed step). */
  readonly perWeight: boolean;
  initialState(): JudgeState;
  tick(state: JudgeState, counts: TickCounts): JudgeVerdict;
}

/** A judge's decision as status words it: "continue" is still Pending. */
export const DECISION_WORD = { fail: "Fail", inconclusive: "Inconclusive", pass: "Pass", continue: "Pending" } as const;

export const percent = (ratio: number, digits = 2) => `${(ratio * 100).toFixed(digits)} %`;
