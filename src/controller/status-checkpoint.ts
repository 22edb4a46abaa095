// Which status changes must be written at once, and which may wait for the next checkpoint (pure).
//
// While a canary is analysed, every interval (1 s on the recommended policies) changes the running
// figures: counts per arm, the raw counters they are differenced from, the judge's statistic, the
// words. Writing each of them would rewrite a Rollout every second (500 progressing Rollouts: some
// MB/s into etcd, and a constant diff for every watcher and GitOps tool). So the reconciler keeps
// such a change in memory and writes it at most once per CHECKPOINT_MS, and at once whenever a
// decision is made: anything below that differs. A restart re-reads the last checkpoint: the
// counters are cumulative, so the next sample, differenced from the checkpoint's counters, counts
// every request since; only the judge looks once where it would have looked several times.
import type { AnalysisStatus, RolloutStatus } from "../api/types.js";

/** The longest a running figure waits in memory before it is written. */
export const CHECKPOINT_MS = 10_000;

/** The part of an analysis that is a decision, or that a restart must not lose. */
function analysisDecisions(a: AnalysisStatus | undefined) {
  if (!a) return undefined;
  return {
    revision: a.revision,
    startedAt: a.startedAt,
    decision: a.decision,
    reason: a.reason,
    decidedBy: a.decidedBy,
    // Promotion needs at least one pass at the weight: the first one is a decision, the count is not.
    passedAtWeight: (a.passesAtWeight ?? 0) > 0,
    weightJudged: a.weightJudged,
    weightSince: a.weightSince,
    resumedAt: a.resumedAt,
    // Consecutive Prometheus errors stop the canary after a limit: each one counts across a restart.
    consecutiveErrors: a.consecutiveErrors ?? 0,
    checks: a.checks.map((c) => [c.name, c.decision, c.reason]),
  };
}

/** Status with the running figures and the words left out: what must be written at once when it changes. */
export function decisions(status: RolloutStatus): unknown {
  const { analysis, message: _words, conditions, ...rest } = status;
  return {
    ...rest,
    conditions: (conditions ?? []).map((c) => [c.type, c.status, c.reason]),
    analysis: analysisDecisions(analysis),
  };
}
