// The statistics of the sequential tests (analysis.md), as small pure functions.
//
// Boundaries: roll back when the log-likelihood ratio S reaches a = ln(1/α) — valid under any
// number of looks by Ville's inequality — and accept when it falls to b = ln(β/(1−α)).

export interface Boundaries {
  reject: number;
  accept: number;
}

export function boundaries(alpha: number, beta: number): Boundaries {
  return { reject: Math.log(1 / alpha), accept: Math.log(beta / (1 - alpha)) };
}

/** Share of errors expected from the canary when its error rate is `relativeRisk` × stable's
 * and it serves the share `w` of the requests: π = w·RR / (w·RR + 1 − w). */
export function canaryErrorShare(w: number, relativeRisk: number): number {
  return (w * relativeRisk) / (w * relativeRisk + 1 - w);
}

/** Log-likelihood-ratio increment of the conditional test for one tick: given E = e_c + e_s
 * errors, e_c ~ Binomial(E, π); H1 at π1 (RR = r1) against H0 at π0 (RR = 1). The stable error
 * rate drops out, so an incident that hits both arms does not move it. */
export function conditionalIncrement(errorsCanary: number, errorsStable: number, w: number, r1: number, r0 = 1): number {
  const p0 = canaryErrorShare(w, r0);
  const p1 = canaryErrorShare(w, r1);
  return errorsCanary * Math.log(p1 / p0) + errorsStable * Math.log((1 - p1) / (1 - p0));
}

/** Increment of the one-sample test of the canary's error rate: p1 against p0. */
export function oneSampleIncrement(requests: number, errors: number, p0: number, p1: number): number {
  return errors * Math.log(p1 / p0) + (requests - errors) * Math.log((1 - p1) / (1 - p0));
}

/** Kullback–Leibler divergence between Bernoulli(p) and Bernoulli(q). */
export function klBernoulli(p: number, q: number): number {
  const term = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(x / y));
  return term(p, q) + term(1 - p, 1 - q);
}

/** Wald's expected sample number under H1 for the one-sample test: the floor no test beats. */
export function expectedSampleNumberH1(p0: number, p1: number, alpha: number, beta: number): number {
  const { reject, accept } = boundaries(alpha, beta);
  return ((1 - beta) * reject + beta * accept) / klBernoulli(p1, p0);
}

/** log(mean(exp(x_i))) computed without overflow. */
export function logMeanExp(values: number[]): number {
  const max = Math.max(...values);
  if (!Number.isFinite(max)) return max;
  return max + Math.log(values.reduce((sum, v) => sum + Math.exp(v - max), 0) / values.length);
}

/** Sample-ratio mismatch: how many standard deviations the canary's share is below its weight. */
export function sampleRatioZ(canaryRequests: number, totalRequests: number, configuredWeight: number): number {
  const w = configuredWeight / 100;
  if (totalRequests <= 0 || w <= 0 || w >= 1) return 0;
  return (canaryRequests - w * totalRequests) / Math.sqrt(totalRequests * w * (1 - w));
}
