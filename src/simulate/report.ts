// Turns simulated rollouts into the figures a release engineer asks for, beside the models of
// the real Argo Rollouts and Flagger controllers (peer-models.ts) when asked to compare.
import { analysisSettings } from "../analysis/checks.js";
import type { AnalysisPolicySpec } from "../api/types.js";
import type { RunResult, TrafficProfile } from "./engine.js";
import { simulateMany } from "./engine.js";
import { PEER_CONFIGS, simulatePeerMany } from "./peer-models.js";
import { clopperPearson, mean, quantile } from "./stats.js";

export interface Distribution {
  mean: number;
  median: number;
  p95: number;
}

export interface Summary {
  rule: string;
  runs: number;
  rolledBack: number;
  promoted: number;
  undecided: number;
  rollbackRate: number;
  rollbackInterval: { lower: number; upper: number };
  rollbackSeconds: Distribution;
  decisionSeconds: Distribution;
  promoteSeconds: Distribution;
  errorsBeforeRollback: number;
}

function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return { mean: mean(sorted), median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

export function summarise(rule: string, results: RunResult[]): Summary {
  const rolledBack = results.filter((r) => r.outcome === "rolled-back");
  const promoted = results.filter((r) => r.outcome === "promoted");
  return {
    rule,
    runs: results.length,
    rolledBack: rolledBack.length,
    promoted: promoted.length,
    undecided: results.length - rolledBack.length - promoted.length,
    rollbackRate: rolledBack.length / results.length,
    rollbackInterval: clopperPearson(rolledBack.length, results.length),
    rollbackSeconds: distribution(rolledBack.map((r) => r.seconds)),
    decisionSeconds: distribution(results.filter((r) => r.outcome !== "undecided").map((r) => r.seconds)),
    promoteSeconds: distribution(promoted.map((r) => r.seconds)),
    errorsBeforeRollback: mean(rolledBack.map((r) => r.canaryErrors)),
  };
}

export interface SimulationRequest {
  policy: AnalysisPolicySpec;
  profile: TrafficProfile;
  runs: number;
  seed: number;
  compare?: boolean;
  label?: string;
}

export function runSimulation(request: SimulationRequest): Summary[] {
  const settings = analysisSettings(request.policy, { analysedSteps: request.profile.weights.filter((w) => w > 0).length });
  const summaries = [summarise(request.label ?? "this policy", simulateMany(settings, request.profile, request.runs, request.seed))];
  // The peers run their own schedules (PEER_CONFIGS: Argo 20 % → 50 % with 2-minute pauses,
  // Flagger's steps to 50 %), as make bench-peers runs them; the profile's weights are ours.
  if (request.compare)
    for (const config of Object.values(PEER_CONFIGS))
      summaries.push(summarise(config.label, simulatePeerMany(config, request.profile, request.runs, request.seed)));
  return summaries;
}

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : "-");

/** A Markdown table: one row per rule. `goodCanary` says whether rollbacks are false rollbacks. */
export function renderSummaries(summaries: Summary[], goodCanary: boolean): string {
  const header = goodCanary
    ? "| rule | runs | false rollbacks | 95 % CI (Clopper–Pearson) | time to promote mean / median / p95 (s) | undecided |\n|---|---|---|---|---|---|"
    : "| rule | runs | power (rolled back) | 95 % CI | time to rollback mean / median / p95 (s) | failed requests before rollback (mean) | undecided |\n|---|---|---|---|---|---|---|";
  const rows = summaries.map((s) =>
    goodCanary
      ? `| ${s.rule} | ${s.runs} | ${pct(s.rollbackRate)} | ${pct(s.rollbackInterval.lower)} – ${pct(s.rollbackInterval.upper)} | ${fmt(s.promoteSeconds.mean)} / ${fmt(s.promoteSeconds.median)} / ${fmt(s.promoteSeconds.p95)} | ${s.undecided} |`
      : `| ${s.rule} | ${s.runs} | ${pct(s.rollbackRate, 1)} | ${pct(s.rollbackInterval.lower, 1)} – ${pct(s.rollbackInterval.upper, 1)} | ${fmt(s.rollbackSeconds.mean)} / ${fmt(s.rollbackSeconds.median)} / ${fmt(s.rollbackSeconds.p95)} | ${fmt(s.errorsBeforeRollback)} | ${s.undecided} |`,
  );
  return `${header}\n${rows.join("\n")}\n`;
}
