// A policy's checks, read once into settings the analysis can run: each counter check (ratio,
// latency) gets its two counter queries and its judge, each query check its bounds. The
// errorRate form of earlier versions is read as one ratio check named "error-rate".
import { parseDuration } from "../api/duration.js";
import type { AnalysisCheck, AnalysisPolicySpec, CounterCheckJudging, LatencyCheck, StopAction } from "../api/types.js";
import type { Judge } from "./judge.js";
import { conditionalSprtJudge, guardedJudge, mixtureSprtJudge, sloSprtJudge } from "./sequential-judges.js";
import { thresholdJudge } from "./threshold-judge.js";

/** The name the errorRate form's one check goes by (in status, conditions and notices). */
export const ERROR_RATE_CHECK = "error-rate";

export interface CounterCheckSettings {
  name: string;
  kind: "ratio" | "latency";
  /** Counter PromQL per arm: all events ("requests") and the bad ones ("errors": slow ones for latency). */
  queries: { requests: string; errors: string };
  /** Latency: the bucket the bad share is measured against, to name it when it is missing. */
  bucket?: { histogram: string; selector: string; maxSeconds: number };
  judge: Judge;
  minRequests: number;
  /** Sequential judges: no pass before this long at a weight; an undecided step passes after the max. */
  minStepDurationMs: number;
  maxStepDurationMs: number;
  /** Sample-ratio mismatch limit in standard deviations (0: off). */
  maxSampleRatioZ: number;
}

export interface QueryCheckSettings {
  name: string;
  kind: "query";
  query: string;
  max?: number;
  min?: number;
  failureLimit: number;
}

export type CheckSettings = CounterCheckSettings | QueryCheckSettings;

export interface AnalysisSettings {
  intervalMs: number;
  noTrafficTimeoutMs: number;
  noTrafficAction: StopAction;
  queryErrorLimit: number;
  queryErrorAction: StopAction;
  checks: CheckSettings[];
}

export interface RolloutAnalysisContext {
  /** How many steps send traffic to the canary (setWeight > 0): α is divided among them. */
  analysedSteps: number;
}

/** The checks as a list, whichever form the policy uses. */
export function checksOf(policy: AnalysisPolicySpec): AnalysisCheck[] {
  if (policy.checks && policy.checks.length > 0) return policy.checks;
  if (policy.errorRate) {
    const { requests, errors, noTraffic: _, ...judging } = policy.errorRate;
    return [{ name: ERROR_RATE_CHECK, ratio: { total: requests, bad: errors, ...judging } }];
  }
  throw new Error("the AnalysisPolicy has no checks: set spec.checks (or the older spec.errorRate)");
}

/**
 * The settings of a policy for one Rollout. α is spent twice over: divided among the analysed
 * steps (each step's sequential test starts afresh), and among the sequential checks (a canary
 * fails when any one fails, so each gets an equal share: Bonferroni). The rollout's false-rollback
 * rate therefore stays within the α the policy names.
 */
export function analysisSettings(policy: AnalysisPolicySpec, ctx: RolloutAnalysisContext = { analysedSteps: 1 }): AnalysisSettings {
  const checks = checksOf(policy);
  const counterSpec = (c: AnalysisCheck) => c.ratio ?? c.latency;
  const sequentialChecks = checks.filter((c) => counterSpec(c)?.judge.sequential).length;
  const share = Math.max(1, ctx.analysedSteps) * Math.max(1, sequentialChecks);
  const noTraffic = policy.noTraffic ?? policy.errorRate?.noTraffic;
  return {
    intervalMs: parseDuration(policy.interval ?? "15s"),
    noTrafficTimeoutMs: parseDuration(noTraffic?.timeout ?? "10m"),
    noTrafficAction: noTraffic?.action ?? "Abort",
    queryErrorLimit: policy.queryErrors?.limit ?? 4,
    queryErrorAction: policy.queryErrors?.action ?? "Abort",
    checks: checks.map((c) => checkSettings(c, share)),
  };
}

function checkSettings(check: AnalysisCheck, alphaShare: number): CheckSettings {
  if (check.query)
    return {
      name: check.name,
      kind: "query",
      query: check.query.query,
      ...(check.query.max !== undefined ? { max: check.query.max } : {}),
      ...(check.query.min !== undefined ? { min: check.query.min } : {}),
      failureLimit: check.query.failureLimit ?? 0,
    };
  const spec = check.ratio ?? check.latency;
  if (!spec) throw new Error(`check ${check.name} sets no kind: set one of ratio, latency or query`);
  const sequential = spec.judge.sequential;
  return {
    name: check.name,
    kind: check.ratio ? "ratio" : "latency",
    queries: check.ratio ? { requests: check.ratio.total, errors: check.ratio.bad } : latencyQueries(spec as LatencyCheck),
    ...(check.latency
      ? { bucket: { histogram: check.latency.histogram, selector: check.latency.selector, maxSeconds: check.latency.maxSeconds } }
      : {}),
    judge: judgeFor(check.name, spec, alphaShare),
    minRequests: spec.minRequests ?? 20,
    minStepDurationMs: sequential?.minStepDuration ? parseDuration(sequential.minStepDuration) : 0,
    maxStepDurationMs: sequential?.maxStepDuration ? parseDuration(sequential.maxStepDuration) : Number.POSITIVE_INFINITY,
    maxSampleRatioZ: spec.maxSampleRatioZ ?? 4,
  };
}

/** The judge a counter check asks for, with its share of α (sequential tests). */
function judgeFor(name: string, check: CounterCheckJudging, alphaShare = 1): Judge {
  const minRequests = check.minRequests ?? 20;
  const { threshold, sequential } = check.judge;
  let judge: Judge;
  if (sequential) {
    const alpha = (sequential.alpha ?? 0.01) / alphaShare;
    const beta = sequential.beta ?? 0.05;
    judge =
      sequential.relativeRisk !== undefined
        ? conditionalSprtJudge({ alpha, beta, relativeRisk: sequential.relativeRisk, minRequests })
        : mixtureSprtJudge({ alpha, beta, minRequests });
  } else if (threshold) {
    judge = thresholdJudge({ maxErrorRate: threshold.maxErrorRate, failureLimit: threshold.failureLimit ?? 0, minRequests });
  } else {
    throw new Error(`check ${name} sets no judge: set judge.sequential or judge.threshold`);
  }
  if (check.slo) {
    const guard = sloSprtJudge({
      alpha: (sequential?.alpha ?? 0.01) / alphaShare,
      beta: sequential?.beta ?? 0.05,
      maxErrorRate: check.slo.maxErrorRate,
      burnErrorRate: check.slo.burnErrorRate,
      minRequests,
    });
    judge = guardedJudge(judge, guard);
  }
  return judge;
}

/** How Prometheus may spell a bucket bound: Prometheus 3 writes whole numbers as "5.0", exporters as "5". */
export function bucketBoundPattern(seconds: number): string {
  const text = String(seconds).replace(/\./g, "\\\\.");
  return Number.isInteger(seconds) ? `${text}(\\\\.0)?` : text;
}

/** Slow requests are the histogram's count less its bucket at maxSeconds, both summed to one series. */
export function latencyQueries(check: Pick<LatencyCheck, "histogram" | "selector" | "maxSeconds">): { requests: string; errors: string } {
  const selector = check.selector.trim();
  const withLe = [selector, `le=~"${bucketBoundPattern(check.maxSeconds)}"`].filter((x) => x.length > 0).join(",");
  const count = `sum(${check.histogram}_count{${selector}})`;
  return { requests: count, errors: `${count} - sum(${check.histogram}_bucket{${withLe}})` };
}
