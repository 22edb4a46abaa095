// The seeded rollout simulator behind `fledge simulate` and `make bench-analysis`. Each
// simulated rollout draws Poisson request counts per arm and tick and Binomial errors, keeps
// them as cumulative counters per series (as Prometheus would show them: a 5xx series is born
// at its first error), and feeds them to the operator's own analysis tick — the same counter
// hygiene and the same judges as in the cluster. Deterministic for a seed.
import { analysisTick, atWeight, type CheckReading, startAnalysis } from "../analysis/analysis-tick.js";
import type { AnalysisSettings } from "../analysis/checks.js";
import type { CounterSample } from "../analysis/counter-check.js";
import type { AnalysisStatus } from "../api/types.js";
import { Random } from "../simulated-app/random.js";

export type Perturbation =
  /** Both arms' error rates × factor for a while (an incident that is not the canary's fault). */
  | { kind: "common-mode"; factor: number; fromSeconds: number; durationSeconds: number }
  /** One arm's error rate × factor for a while. */
  | { kind: "burst"; arm: "canary" | "stable"; factor: number; fromSeconds: number; durationSeconds: number }
  /** The canary's counters restart from 0 (a pod restart) at this time. */
  | { kind: "counter-reset"; atSeconds: number }
  /** Every `every`-th reading misses the canary's series (a missed scrape). */
  | { kind: "missed-scrape"; every: number }
  /** No traffic at all for a while. */
  | { kind: "zero-traffic"; fromSeconds: number; durationSeconds: number };

export interface TrafficProfile {
  /** Requests per second over both arms. */
  rps: number;
  /** The canary's weight at each analysed step, percent. */
  weights: number[];
  stableErrorRate: number;
  canaryErrorRate: number;
  /** Latency checks: the share of each arm's requests slower than the check's bound (default 0). */
  stableSlowRate?: number;
  canarySlowRate?: number;
  /** Longest a simulated rollout may run; undecided rollouts end here. */
  maxSeconds: number;
  perturbations?: Perturbation[];
  /** The least time each step lasts (the pause after its setWeight): a step that passed sooner
   * moves on only then, still analysed meanwhile. */
  stepSeconds?: number;
}

export type RunOutcome = "rolled-back" | "promoted" | "undecided";

export interface RunResult {
  outcome: RunOutcome;
  /** Seconds from the canary's first traffic to the decision. */
  seconds: number;
  /** Failed requests the canary served before the decision. */
  canaryErrors: number;
  reason: string;
  /** The check that rolled it back. */
  check?: string;
}

const inWindow = (t: number, from: number, duration: number) => t >= from && t < from + duration;

/** Query checks read arbitrary PromQL, which the simulator cannot play: it runs the counter
 * checks (ratio, latency) and leaves the query checks out. */
export function simulatedChecks(settings: AnalysisSettings): AnalysisSettings {
  return { ...settings, checks: settings.checks.filter((c) => c.kind !== "query") };
}

export function simulateRollout(policySettings: AnalysisSettings, profile: TrafficProfile, random: Random): RunResult {
  const settings = simulatedChecks(policySettings);
  const tick = settings.intervalMs / 1000;
  // Cumulative counters per arm: requests answered well and badly, and fast and slow.
  const counters = { cOk: 0, cErr: 0, sOk: 0, sErr: 0, cFast: 0, cSlow: 0, sFast: 0, sSlow: 0 };
  let canaryErrorsServed = 0;
  let step = 0;
  let stepStartedAt = 0;
  let analysis: AnalysisStatus = atWeight(startAnalysis("sim", new Date(0), settings), profile.weights[0] ?? 0, new Date(0), settings);
  const perturbations = profile.perturbations ?? [];
  const series = (ok: number, bad: number, code: string) => {
    const requests: Record<string, number> = { [`${code}="ok"`]: ok };
    const errors: Record<string, number> = {};
    // A bad-event series exists only from its first event on, as in Prometheus.
    if (bad > 0) {
      requests[`${code}="bad"`] = bad;
      errors[`${code}="bad"`] = bad;
    }
    return { requests, errors };
  };
  const counterSample = (i: number, kind: "ratio" | "latency"): CounterSample => {
    const missed = perturbations.some((p) => p.kind === "missed-scrape" && i > 0 && i % p.every === 0);
    const c = kind === "ratio" ? series(counters.cOk, counters.cErr, "status") : series(counters.cFast, counters.cSlow, "le");
    const s = kind === "ratio" ? series(counters.sOk, counters.sErr, "status") : series(counters.sFast, counters.sSlow, "le");
    return {
      canaryRequests: missed ? {} : c.requests,
      canaryErrors: missed ? {} : c.errors,
      stableRequests: s.requests,
      stableErrors: s.errors,
    };
  };
  const readings = (i: number): Record<string, CheckReading> =>
    Object.fromEntries(
      settings.checks.map((c) => [c.name, { kind: "counters", counters: counterSample(i, c.kind === "latency" ? "latency" : "ratio") }]),
    );
  analysis = analysisTick(analysis, { at: new Date(0).toISOString(), ok: true, readings: readings(0) }, settings).analysis;

  for (let i = 1; i * tick <= profile.maxSeconds; i++) {
    const t = i * tick;
    const w = (profile.weights[step] ?? 0) / 100;
    let canaryRate = profile.canaryErrorRate;
    let stableRate = profile.stableErrorRate;
    let rps = profile.rps;
    for (const p of perturbations) {
      if (p.kind === "common-mode" && inWindow(t, p.fromSeconds, p.durationSeconds)) {
        canaryRate *= p.factor;
        stableRate *= p.factor;
      } else if (p.kind === "burst" && inWindow(t, p.fromSeconds, p.durationSeconds)) {
        if (p.arm === "canary") canaryRate *= p.factor;
        else stableRate *= p.factor;
      } else if (p.kind === "zero-traffic" && inWindow(t, p.fromSeconds, p.durationSeconds)) {
        rps = 0;
      } else if (p.kind === "counter-reset" && t - tick < p.atSeconds && t >= p.atSeconds) {
        counters.cOk = 0;
        counters.cErr = 0;
        counters.cFast = 0;
        counters.cSlow = 0;
      }
    }
    const nc = random.poisson(rps * w * tick);
    const ns = random.poisson(rps * (1 - w) * tick);
    const ec = random.binomial(nc, Math.min(canaryRate, 1));
    const es = random.binomial(ns, Math.min(stableRate, 1));
    counters.cOk += nc - ec;
    counters.cErr += ec;
    counters.sOk += ns - es;
    counters.sErr += es;
    canaryErrorsServed += ec;
    if (settings.checks.some((c) => c.kind === "latency")) {
      const slowC = random.binomial(nc, Math.min(profile.canarySlowRate ?? 0, 1));
      const slowS = random.binomial(ns, Math.min(profile.stableSlowRate ?? 0, 1));
      counters.cFast += nc - slowC;
      counters.cSlow += slowC;
      counters.sFast += ns - slowS;
      counters.sSlow += slowS;
    }

    const result = analysisTick(analysis, { at: new Date(t * 1000).toISOString(), ok: true, readings: readings(i) }, settings);
    analysis = result.analysis;
    const outcome = result.outcome;
    if (outcome.kind === "fail" || outcome.kind === "stop")
      return { outcome: "rolled-back", seconds: t, canaryErrors: canaryErrorsServed, reason: outcome.reason, ...decidedBy(outcome) };
    if (outcome.kind === "pass" && t - stepStartedAt >= (profile.stepSeconds ?? 0)) {
      step += 1;
      stepStartedAt = t;
      if (step >= profile.weights.length)
        return { outcome: "promoted", seconds: t, canaryErrors: canaryErrorsServed, reason: outcome.reason };
      analysis = atWeight(analysis, profile.weights[step] ?? 0, new Date(t * 1000), settings);
    }
  }
  return { outcome: "undecided", seconds: profile.maxSeconds, canaryErrors: canaryErrorsServed, reason: "MaxDuration" };
}

const decidedBy = (outcome: { check?: string }) => (outcome.check ? { check: outcome.check } : {});

export function simulateMany(settings: AnalysisSettings, profile: TrafficProfile, runs: number, seed: number): RunResult[] {
  const random = new Random(seed);
  const results: RunResult[] = [];
  for (let r = 0; r < runs; r++) results.push(simulateRollout(settings, profile, random));
  return results;
}
