// The sequential judges (analysis.md): they roll a bad canary back as soon as the data allow,
// with a false-rollback rate bounded by α however often they look.
//   - conditional SPRT, canary vs stable: only errors carry information; the stable error rate
//     drops out, so an incident hitting both arms does not roll the canary back;
//   - mixture SPRT: the same test averaged over a grid of relative risks (no effect size to pick);
//   - one-sample SPRT against an absolute SLO, as a guard beside the comparison, or alone when
//     there is no stable traffic.
import type { Judge, JudgeState, JudgeVerdict, TickCounts } from "./judge.js";
import { boundaries, conditionalIncrement, logMeanExp, oneSampleIncrement } from "./sprt.js";

export interface SequentialOptions {
  /** False-rollback probability for this test (already divided among the analysed steps). */
  alpha: number;
  /** Probability of accepting a canary that is `relativeRisk` times worse. */
  beta: number;
  /** The smallest relative risk that must not be promoted (conditional test). */
  relativeRisk: number;
  /** Canary requests needed at this weight before the test may accept. */
  minRequests: number;
}

export const MIXTURE_GRID = [1.5, 2, 3, 5, 10];

const pct = (x: number) => `${Math.round(x * 100)} %`;

/** Words for where the statistic is, e.g. "canary 2.3× stable's error rate, 97 % of the way to the rollback boundary". */
function describe(state: JudgeState, statistic: number, reject: number, accept: number): string {
  const { nc = 0, ec = 0, ns = 0, es = 0 } = state;
  const rateC = nc > 0 ? ec / nc : 0;
  const rateS = ns > 0 ? es / ns : 0;
  const ratio =
    nc === 0
      ? "no canary requests yet"
      : rateS > 0
        ? `canary ${(rateC / rateS).toFixed(1)}× stable's error rate (${(rateC * 100).toFixed(2)} % vs ${(rateS * 100).toFixed(2)} %)`
        : `canary ${(rateC * 100).toFixed(2)} % errors, stable none`;
  const where =
    statistic >= 0
      ? `${pct(Math.min(statistic / reject, 1))} of the way to the rollback boundary`
      : `${pct(Math.min(statistic / accept, 1))} of the way to the promotion boundary`;
  return `${ratio}; ${where} (log-likelihood ratio ${statistic.toFixed(2)}, roll back at ${reject.toFixed(2)}, accept at ${accept.toFixed(2)}; ${nc} canary / ${ns} stable requests, ${ec} / ${es} errors)`;
}

function accumulate(state: JudgeState, counts: TickCounts): JudgeState {
  return {
    ...state,
    nc: (state.nc ?? 0) + counts.canary.requests,
    ec: (state.ec ?? 0) + counts.canary.errors,
    ns: (state.ns ?? 0) + counts.stable.requests,
    es: (state.es ?? 0) + counts.stable.errors,
  };
}

function decideOn(statistic: number, state: JudgeState, counts: TickCounts, opts: SequentialOptions, name: string): JudgeVerdict {
  const { reject, accept } = boundaries(opts.alpha, opts.beta);
  const explanation = describe(state, statistic, reject, accept);
  const evidence = { statistic, reject, accept };
  if (statistic >= reject)
    return { state, decision: "fail", reason: "CanaryWorseThanStable", explanation: `${name}: ${explanation}`, evidence };
  const accepted = (state.accepted ?? 0) === 1 || (statistic <= accept && (state.nc ?? 0) >= opts.minRequests);
  if (accepted)
    return {
      state: { ...state, accepted: 1 },
      decision: "pass",
      reason: "CanaryNotWorse",
      explanation: `${name}: ${explanation}`,
      evidence,
    };
  if (counts.canary.requests === 0)
    return {
      state,
      decision: "inconclusive",
      reason: "NoTraffic",
      explanation: `${name}: no canary requests in this interval; ${explanation}`,
      evidence,
    };
  return { state, decision: "continue", reason: "Collecting", explanation: `${name}: ${explanation}`, evidence };
}

/** Measured canary share of this tick; the test skips ticks where it is 0 or 1. */
const shareOf = (counts: TickCounts) => {
  const total = counts.canary.requests + counts.stable.requests;
  return total > 0 ? counts.canary.requests / total : 0;
};

export function conditionalSprtJudge(opts: SequentialOptions): Judge {
  return {
    name: "sequential",
    perWeight: true,
    initialState: () => ({ s: 0 }),
    tick(previous, counts) {
      const state = accumulate(previous, counts);
      const w = shareOf(counts);
      const errors = counts.canary.errors + counts.stable.errors;
      if (w > 0 && w < 1 && errors > 0)
        state.s = (state.s ?? 0) + conditionalIncrement(counts.canary.errors, counts.stable.errors, w, opts.relativeRisk);
      return decideOn(state.s ?? 0, state, counts, opts, `conditional SPRT (RR ${opts.relativeRisk})`);
    },
  };
}

export function mixtureSprtJudge(opts: Omit<SequentialOptions, "relativeRisk">, grid = MIXTURE_GRID): Judge {
  return {
    name: "mixture",
    perWeight: true,
    initialState: () => Object.fromEntries(grid.map((_, i) => [`s${i}`, 0])),
    tick(previous, counts) {
      const state = accumulate(previous, counts);
      const w = shareOf(counts);
      const errors = counts.canary.errors + counts.stable.errors;
      if (w > 0 && w < 1 && errors > 0) {
        grid.forEach((r, i) => {
          state[`s${i}`] = (state[`s${i}`] ?? 0) + conditionalIncrement(counts.canary.errors, counts.stable.errors, w, r);
        });
      }
      // Averaging likelihood ratios keeps the mixture a test martingale: Ville's bound still holds.
      const statistic = logMeanExp(grid.map((_, i) => state[`s${i}`] ?? 0));
      return decideOn(statistic, state, counts, { ...opts, relativeRisk: 0 }, `mixture SPRT (RR ${grid.join(", ")})`);
    },
  };
}

export interface SloOptions {
  alpha: number;
  beta: number;
  /** Error budget: the SLO's maximum error rate (p0). */
  maxErrorRate: number;
  /** Error rate that must never be promoted (p1); default 14.4 × budget, the fast-burn factor. */
  burnErrorRate?: number;
  minRequests: number;
}

export function sloSprtJudge(opts: SloOptions): Judge {
  const p0 = opts.maxErrorRate;
  const p1 = Math.min(opts.burnErrorRate ?? 14.4 * p0, 0.999);
  const name = `SLO SPRT (${(p0 * 100).toFixed(2)} % budget vs ${(p1 * 100).toFixed(1)} %)`;
  return {
    name: "slo",
    perWeight: true,
    initialState: () => ({ s: 0 }),
    tick(previous, counts) {
      const state = accumulate(previous, counts);
      state.s = (state.s ?? 0) + oneSampleIncrement(counts.canary.requests, counts.canary.errors, p0, p1);
      const verdict = decideOn(
        state.s,
        state,
        counts,
        { alpha: opts.alpha, beta: opts.beta, relativeRisk: 0, minRequests: opts.minRequests },
        name,
      );
      return verdict.decision === "fail" ? { ...verdict, reason: "SloBurnRateTooHigh" } : verdict;
    },
  };
}

/** The comparison with an SLO guard beside it: either failing fails; the comparison decides a
 * pass, except on ticks with no stable traffic, where the guard alone decides. */
export function guardedJudge(comparison: Judge, guard: Judge): Judge {
  const split = (state: JudgeState, prefix: string) =>
    Object.fromEntries(
      Object.entries(state)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, v]) => [k.slice(prefix.length), v]),
    );
  const join = (prefix: string, state: JudgeState) => Object.fromEntries(Object.entries(state).map(([k, v]) => [`${prefix}${k}`, v]));
  return {
    name: `${comparison.name}+${guard.name}`,
    perWeight: comparison.perWeight || guard.perWeight,
    initialState: () => ({ ...join("c.", comparison.initialState()), ...join("g.", guard.initialState()) }),
    tick(previous, counts) {
      const c = comparison.tick(split(previous, "c."), counts);
      const g = guard.tick(split(previous, "g."), counts);
      const state = { ...join("c.", c.state), ...join("g.", g.state) };
      if (g.decision === "fail") return { ...g, state };
      if (c.decision === "fail") return { ...c, state };
      const noStable = counts.stable.requests === 0 && (c.state.ns ?? 0) === 0;
      const lead = noStable ? g : c;
      return { ...lead, state, explanation: `${c.explanation}; guard: ${g.explanation}` };
    },
  };
}
