// Models of the real Argo Rollouts and Flagger controllers, for `fledge simulate --compare` and
// make bench-analysis, checked against the controllers themselves by make bench-peers (which
// runs these very configurations: bench/peers.ts builds its AnalysisTemplates and Canaries from
// PEER_CONFIGS). What each model keeps of its controller, read from their v1.9.2 and v1.44.0
// sources and confirmed by the measured lanes (docs/benchmarks.md, section "peers"):
//   Argo Rollouts: the steps run on their own clock (setWeight, then a pause); a background
//     AnalysisRun measures once when it starts and then every `interval`, a success ratio over a
//     Prometheus rate() window; a measurement fails when the ratio is below the condition (NaN
//     too: no canary requests in the window); the run fails, and the rollout aborts to weight 0,
//     when failures exceed failureLimit (counted in total, not in a row).
//   Flagger: one tick per `interval`. A tick first rolls back if failed checks already reached
//     the threshold; otherwise it runs the analysis (the error % over the metric's window; no
//     data counts as a failed check), and on a failure adds one and does nothing else; on a pass
//     it steps the weight up, or at maxWeight copies the canary to the primary, then shifts the
//     traffic back a tick later and finishes a tick after that. So a bad canary is rolled back
//     (threshold + 1) ticks after its first traffic, and a good one is promoted after
//     (maxWeight / stepWeight + 2) ticks.
//   Both read rate() windows, which never see the first error of a 5xx series born in them
//   (analysis.md): the models drop the canary's first error from what the analysis sees.
// Pure, seeded and deterministic like src/simulate/engine.ts.
import { Random } from "../simulated-app/random.js";
import type { RunResult, TrafficProfile } from "./engine.js";

export interface ArgoConfig {
  controller: "argo";
  /** Its AnalysisTemplate metric: every `intervalSeconds`, success ratio over `windowSeconds` ≥ `minSuccess`. */
  intervalSeconds: number;
  windowSeconds: number;
  minSuccess: number;
  failureLimit: number;
  /** setWeight then pause, each. */
  steps: Array<{ weight: number; pauseSeconds: number }>;
  /** From the canary's first traffic to the AnalysisRun's first measurement (a reconcile or two). */
  analysisStartSeconds: number;
}

export interface FlaggerConfig {
  controller: "flagger";
  intervalSeconds: number;
  /** The metric's own `interval`: the rate() window. */
  windowSeconds: number;
  /** thresholdRange.max of the error-rate metric, percent. */
  maxErrorPercent: number;
  threshold: number;
  stepWeight: number;
  maxWeight: number;
}

export type PeerConfig = (ArgoConfig | FlaggerConfig) & { label: string };

/** The steps make bench-peers gives Fledge and Argo Rollouts alike: 20 %, 2 minutes, 50 %, 2 minutes. */
export const BENCH_STEPS = [
  { weight: 20, pauseSeconds: 120 },
  { weight: 50, pauseSeconds: 120 },
];

/** The configurations make bench-peers runs, and why each (bench/peers.ts builds them from here). */
export const PEER_CONFIGS = {
  /** As Argo Rollouts' analysis docs show it: a 5-minute success rate ≥ 95 %, failureLimit 3. */
  "argo-docs": {
    controller: "argo",
    label: "Argo Rollouts, per its docs (every 5m over 5m, ≥ 95 %, failureLimit 3)",
    intervalSeconds: 300,
    windowSeconds: 300,
    minSuccess: 0.95,
    failureLimit: 3,
    steps: BENCH_STEPS,
    analysisStartSeconds: 5,
  },
  /** What a careful user tightens it to: every 30 s over 1 minute, ≥ 99 %, failureLimit 1. */
  "argo-fast": {
    controller: "argo",
    label: "Argo Rollouts, tightened (every 30s over 1m, ≥ 99 %, failureLimit 1)",
    intervalSeconds: 30,
    windowSeconds: 60,
    minSuccess: 0.99,
    failureLimit: 1,
    steps: BENCH_STEPS,
    analysisStartSeconds: 5,
  },
  /** Flagger's docs: interval 1m, threshold 5, stepWeight 10 to 50, error rate ≤ 1 % over 1m. */
  "flagger-docs": {
    controller: "flagger",
    label: "Flagger, per its docs (1m ticks, threshold 5, +10 % to 50 %, errors ≤ 1 % over 1m)",
    intervalSeconds: 60,
    windowSeconds: 60,
    maxErrorPercent: 1,
    threshold: 5,
    stepWeight: 10,
    maxWeight: 50,
  },
  /** Tightened: 15 s ticks, threshold 2, stepWeight 25, the metric over 30 s. */
  "flagger-fast": {
    controller: "flagger",
    label: "Flagger, tightened (15s ticks, threshold 2, +25 % to 50 %, errors ≤ 1 % over 30s)",
    intervalSeconds: 15,
    windowSeconds: 30,
    maxErrorPercent: 1,
    threshold: 2,
    stepWeight: 25,
    maxWeight: 50,
  },
} as const satisfies Record<string, PeerConfig>;

export type PeerName = keyof typeof PEER_CONFIGS;

/** Per-second canary counts as the analysis sees them through rate() windows. */
class CanaryWindow {
  private readonly requests: number[] = [];
  private readonly errors: number[] = [];
  private sawFirstError = false;

  add(requests: number, errors: number): void {
    // rate() misses the first increment of a series born in its window: the 5xx series.
    let seen = errors;
    if (!this.sawFirstError && errors > 0) {
      this.sawFirstError = true;
      seen -= 1;
    }
    this.requests.push(requests);
    this.errors.push(seen);
  }

  /** Requests and errors over the last `seconds`. */
  over(seconds: number): { requests: number; errors: number } {
    const from = Math.max(0, this.requests.length - seconds);
    let requests = 0;
    let errors = 0;
    for (let i = from; i < this.requests.length; i++) {
      requests += this.requests[i] ?? 0;
      errors += this.errors[i] ?? 0;
    }
    return { requests, errors };
  }
}

/** Error-rate multipliers at second t (the profile's common-mode incidents and bursts). */
function ratesAt(profile: TrafficProfile, t: number): { canary: number; stable: number } {
  let canary = profile.canaryErrorRate;
  let stable = profile.stableErrorRate;
  for (const p of profile.perturbations ?? []) {
    if (p.kind !== "common-mode" && p.kind !== "burst") continue;
    if (t < p.fromSeconds || t >= p.fromSeconds + p.durationSeconds) continue;
    if (p.kind === "common-mode") {
      canary *= p.factor;
      stable *= p.factor;
    } else if (p.kind === "burst") {
      if (p.arm === "canary") canary *= p.factor;
      else stable *= p.factor;
    }
  }
  return { canary: Math.min(canary, 1), stable: Math.min(stable, 1) };
}

/** One rollout under the modelled controller; t = 0 is the canary's first traffic. */
export function simulatePeer(config: PeerConfig, profile: TrafficProfile, random: Random): RunResult {
  const window = new CanaryWindow();
  let served = 0;
  const second = (t: number, weight: number) => {
    const rates = ratesAt(profile, t);
    const nc = random.poisson((profile.rps * weight) / 100);
    const ec = random.binomial(nc, rates.canary);
    // Both controllers' queries read the canary alone: the stable arm's counts do not matter.
    served += ec;
    window.add(nc, ec);
  };
  return config.controller === "argo"
    ? argoRun(config, profile, second, () => served, window)
    : flaggerRun(config, profile, second, () => served, window);
}

function argoRun(
  config: ArgoConfig,
  profile: TrafficProfile,
  second: (t: number, weight: number) => void,
  served: () => number,
  window: CanaryWindow,
): RunResult {
  const stepEnds: number[] = [];
  let end = 0;
  for (const s of config.steps) {
    end += s.pauseSeconds;
    stepEnds.push(end);
  }
  let failed = 0;
  let nextMeasurement = config.analysisStartSeconds;
  for (let t = 0; t < Math.min(end, profile.maxSeconds); t++) {
    const step = stepEnds.findIndex((e) => t < e);
    second(t, config.steps[step]?.weight ?? 0);
    if (t + 1 >= nextMeasurement) {
      nextMeasurement += config.intervalSeconds;
      const { requests, errors } = window.over(config.windowSeconds);
      // NaN (no requests) fails `result[0] >= x` as a low ratio does.
      const ok = requests > 0 && 1 - errors / requests >= config.minSuccess;
      if (!ok) failed += 1;
      if (failed > config.failureLimit)
        return {
          outcome: "rolled-back",
          seconds: t + 1,
          canaryErrors: served(),
          reason: `failed (${failed}) > failureLimit (${config.failureLimit})`,
        };
    }
  }
  if (end > profile.maxSeconds) return { outcome: "undecided", seconds: profile.maxSeconds, canaryErrors: served(), reason: "MaxDuration" };
  return { outcome: "promoted", seconds: end, canaryErrors: served(), reason: "StepsCompleted" };
}

function flaggerRun(
  config: FlaggerConfig,
  profile: TrafficProfile,
  second: (t: number, weight: number) => void,
  served: () => number,
  window: CanaryWindow,
): RunResult {
  let weight = config.stepWeight;
  let failed = 0;
  let promotingSince: number | undefined;
  for (let tick = 1; tick * config.intervalSeconds <= profile.maxSeconds; tick++) {
    for (let s = 0; s < config.intervalSeconds; s++) second((tick - 1) * config.intervalSeconds + s, weight);
    const t = tick * config.intervalSeconds;
    if (promotingSince !== undefined) {
      // The tick after the copy shifts the traffic to the primary (the new version); the next finishes.
      if (tick === promotingSince + 2) return { outcome: "promoted", seconds: t, canaryErrors: served(), reason: "Succeeded" };
      continue;
    }
    if (failed >= config.threshold)
      return {
        outcome: "rolled-back",
        seconds: t,
        canaryErrors: served(),
        reason: `failed checks (${failed}) reached the threshold (${config.threshold})`,
      };
    const { requests, errors } = window.over(config.windowSeconds);
    if (requests === 0 || (100 * errors) / requests > config.maxErrorPercent) {
      failed += 1;
      continue;
    }
    if (weight < config.maxWeight) weight = Math.min(weight + config.stepWeight, config.maxWeight);
    else promotingSince = tick;
  }
  return { outcome: "undecided", seconds: profile.maxSeconds, canaryErrors: served(), reason: "MaxDuration" };
}

export function simulatePeerMany(config: PeerConfig, profile: TrafficProfile, runs: number, seed: number): RunResult[] {
  const random = new Random(seed);
  return Array.from({ length: runs }, () => simulatePeer(config, profile, random));
}
