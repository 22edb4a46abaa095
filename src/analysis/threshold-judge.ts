// The threshold judge, as Argo Rollouts and Flagger users know it: each interval, the canary's
// error ratio is compared with a maximum; more than `failureLimit` intervals over it (counted
// in total, not in a row, as Argo counts) fail the canary. An interval with fewer than
// `minRequests` canary requests is inconclusive: never a pass.
import type { Judge, JudgeState, JudgeVerdict, TickCounts } from "./judge.js";
import { percent } from "./judge.js";

export interface ThresholdJudgeOptions {
  maxErrorRate: number;
  failureLimit: number;
  minRequests: number;
}

export function thresholdJudge(options: ThresholdJudgeOptions): Judge {
  return {
    name: "threshold",
    // Argo Rollouts counts failed intervals over the whole run, whatever the weight.
    perWeight: false,
    initialState: () => ({ failures: 0, passes: 0 }),
    tick(state: JudgeState, counts: TickCounts): JudgeVerdict {
      const failures = state.failures ?? 0;
      const passes = state.passes ?? 0;
      const { requests, errors } = counts.canary;
      if (requests < options.minRequests || requests === 0) {
        return {
          state: { failures, passes },
          decision: "inconclusive",
          reason: requests === 0 ? "NoTraffic" : "TooFewRequests",
          explanation: `canary served ${requests} requests in this interval, fewer than the ${options.minRequests} needed to judge it`,
        };
      }
      const ratio = errors / requests;
      const evidence = { statistic: ratio, reject: options.maxErrorRate };
      const stableRatio = counts.stable.requests > 0 ? counts.stable.errors / counts.stable.requests : undefined;
      const vsStable = stableRatio === undefined ? "" : ` (stable ${percent(stableRatio)})`;
      if (ratio > options.maxErrorRate) {
        const nowFailures = failures + 1;
        const failed = nowFailures > options.failureLimit;
        return {
          state: { failures: nowFailures, passes },
          decision: failed ? "fail" : "continue",
          reason: failed ? "ErrorRateTooHigh" : "IntervalOverThreshold",
          explanation:
            `canary error rate ${percent(ratio)} (${errors}/${requests})${vsStable} is over the ${percent(options.maxErrorRate)} limit; ` +
            `${nowFailures} interval(s) over, ${options.failureLimit} tolerated`,
          evidence,
        };
      }
      return {
        state: { failures, passes: passes + 1 },
        decision: "pass",
        reason: "ErrorRateWithinLimit",
        explanation: `canary error rate ${percent(ratio)} (${errors}/${requests})${vsStable} is within the ${percent(options.maxErrorRate)} limit`,
        evidence,
      };
    },
  };
}
