// make bench-analysis: the analysis.md grid and perturbations through the simulator, with
// the Argo-style and Flagger-style rules beside ours. Prints the tables and writes them to
// docs/benchmarks.md. Seeded: the same command gives the same figures.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import type { AnalysisPolicy, AnalysisPolicySpec, ErrorRateCheck } from "../src/api/types.js";
import { repoRoot } from "../src/devcluster/versions.js";
import type { Perturbation, TrafficProfile } from "../src/simulate/engine.js";
import { renderSummaries, runSimulation, type Summary } from "../src/simulate/report.js";
import { writeSection } from "./markdown-section.js";

const RUNS = Number(process.env.RUNS ?? 10_000);
const GRID_RUNS = Number(process.env.GRID_RUNS ?? 500);
const SEED = 20261127;
const policy = (parse(readFileSync(path.join(repoRoot, "policies", "sequential-error-rate.yaml"), "utf8")) as AnalysisPolicy).spec;
const started = Date.now();
const out: string[] = [];
const say = (text: string) => {
  out.push(text);
  process.stdout.write(`${text}\n`);
};

const S: TrafficProfile = { rps: 100, weights: [10], stableErrorRate: 0.005, canaryErrorRate: 0.005, maxSeconds: 3600 };
const scenario = (title: string, profile: Partial<TrafficProfile>, compare = true): Summary[] => {
  const full = { ...S, ...profile };
  const t0 = Date.now();
  const summaries = runSimulation({ policy, profile: full, runs: RUNS, seed: SEED, compare, label: "Fledge sequential (mixture SPRT)" });
  say(`\n### ${title}\n`);
  say(renderSummaries(summaries, full.canaryErrorRate <= full.stableErrorRate));
  say(`_${RUNS} runs per rule, ${((Date.now() - t0) / 1000).toFixed(1)} s._`);
  return summaries;
};

say(
  `Policy: \`policies/sequential-error-rate.yaml\` (mixture SPRT over RR 1.5–10, α 0.01, β 0.05, 1 s interval, minRequests 100, maxStepDuration 30m), at the scenario's weight. Beside it, the models of the real Argo Rollouts and Flagger controllers (src/simulate/peer-models.ts) with the settings \`make bench-peers\` runs the real ones with, each on its own schedule (Argo: 20 % then 50 %, 2-minute pauses; Flagger: its steps to 50 %); the "Measured against the models" table in the peers section checks them against the real controllers.`,
);
say(`\n## Scenario S: stable 0.5 %, canary 10 % of 100 req/s`);
const good = scenario("Good canary (0.5 %)", {});
const incident = scenario("Good canary under a common-mode incident (both arms × 5 from t = 30 s for 5 min)", {
  perturbations: [{ kind: "common-mode", factor: 5, fromSeconds: 30, durationSeconds: 300 }],
});
const twice = scenario("2× canary (1 %)", { canaryErrorRate: 0.01 });
const tenfold = scenario("10× canary (5 %)", { canaryErrorRate: 0.05 });

say(`\n### Targets (issue 4)\n`);
say("| target | measured | met |\n|---|---|---|");
const row = (what: string, measured: string, ok: boolean) => say(`| ${what} | ${measured} | ${ok ? "yes" : "**no**"} |`);
const f = (x: number, d = 1) => x.toFixed(d);
const ours = (s: Summary[]) => s[0] as Summary;
row("10× canary: mean time to rollback ≤ 15 s", `${f(ours(tenfold).rollbackSeconds.mean)} s`, ours(tenfold).rollbackSeconds.mean <= 15);
row("2× canary: power ≥ 95 %", `${f(ours(twice).rollbackRate * 100)} %`, ours(twice).rollbackRate >= 0.95);
row("2× canary: mean time to rollback ≤ 330 s", `${f(ours(twice).rollbackSeconds.mean)} s`, ours(twice).rollbackSeconds.mean <= 330);
row("good canary: false rollback ≤ 1 %", `${f(ours(good).rollbackRate * 100, 2)} %`, ours(good).rollbackRate <= 0.01);
row(
  "good canary: Clopper–Pearson upper bound ≤ 1.3 %",
  `${f(ours(good).rollbackInterval.upper * 100, 2)} %`,
  ours(good).rollbackInterval.upper <= 0.013,
);
row(
  "common-mode incident ×5: false rollback ≤ 1 %",
  `${f(ours(incident).rollbackRate * 100, 2)} % (upper ${f(ours(incident).rollbackInterval.upper * 100, 2)} %)`,
  ours(incident).rollbackInterval.upper <= 0.013,
);
row(
  "failed requests served before rolling back a 10× canary ≤ 5",
  f(ours(tenfold).errorsBeforeRollback),
  ours(tenfold).errorsBeforeRollback <= 5,
);

say(`\n### The failed-requests target and an SLO guard\n`);
say(
  "The comparison learns only from errors: at 10 req/s a 5 % canary makes 0.5 errors/s, and ~12 s of them is ~6 errors. A one-sample guard against an absolute budget (`errorRate.slo`) stops a 10× canary near the statistical floor, but it also rolls back healthy canaries while an incident lifts both arms, which the comparison ignores:\n",
);
say(
  "| policy | 10× canary: mean time to rollback (s) | failed requests before rollback | good canary under common-mode ×5: false rollbacks |\n|---|---|---|---|",
);
const guarded: AnalysisPolicySpec = {
  ...policy,
  errorRate: { ...(policy.errorRate as ErrorRateCheck), slo: { maxErrorRate: 0.005, burnErrorRate: 0.05 } },
};
for (const [label, p] of [
  ["mixture SPRT (shipped policy)", policy],
  ["mixture SPRT + SLO guard (budget 0.5 %, burn 5 %)", guarded],
] as const) {
  const bad = runSimulation({ policy: p, profile: { ...S, canaryErrorRate: 0.05 }, runs: RUNS, seed: SEED })[0] as Summary;
  const inc = runSimulation({
    policy: p,
    profile: { ...S, perturbations: [{ kind: "common-mode", factor: 5, fromSeconds: 30, durationSeconds: 300 }] },
    runs: RUNS,
    seed: SEED,
  })[0] as Summary;
  say(`| ${label} | ${f(bad.rollbackSeconds.mean)} | ${f(bad.errorsBeforeRollback)} | ${f(inc.rollbackRate * 100, 2)} % |`);
}

say(`\n## Perturbations (scenario S, ${RUNS} runs each, Fledge's policy only)\n`);
say("| perturbation | canary | rolled back | 95 % CI | mean time to decision (s) |\n|---|---|---|---|---|");
const perturbations: Array<[string, Perturbation[], number]> = [
  [
    "single-arm burst: stable × 5 for 60 s from t = 20 s",
    [{ kind: "burst", arm: "stable", factor: 5, fromSeconds: 20, durationSeconds: 60 }],
    0.005,
  ],
  [
    "single-arm burst: canary × 5 for 60 s from t = 20 s",
    [{ kind: "burst", arm: "canary", factor: 5, fromSeconds: 20, durationSeconds: 60 }],
    0.005,
  ],
  ["canary counter reset (pod restart) at t = 60 s", [{ kind: "counter-reset", atSeconds: 60 }], 0.005],
  ["canary counter reset at t = 5 s, 10× canary", [{ kind: "counter-reset", atSeconds: 5 }], 0.05],
  ["missed scrape of the canary every 7th reading", [{ kind: "missed-scrape", every: 7 }], 0.005],
  ["missed scrape every 7th reading, 10× canary", [{ kind: "missed-scrape", every: 7 }], 0.05],
  ["zero-traffic window: none for 120 s from t = 30 s", [{ kind: "zero-traffic", fromSeconds: 30, durationSeconds: 120 }], 0.005],
];
for (const [what, list, canary] of perturbations) {
  const s = ours(runSimulation({ policy, profile: { ...S, canaryErrorRate: canary, perturbations: list }, runs: RUNS, seed: SEED }));
  say(
    `| ${what} | ${f(canary * 100, 2)} % | ${f(s.rollbackRate * 100, 2)} % | ${f(s.rollbackInterval.lower * 100, 2)} – ${f(s.rollbackInterval.upper * 100, 2)} % | ${f(s.decisionSeconds.mean)} |`,
  );
}
say(`\nLate-born error series are in every run: a 5xx series exists only from its first error on, and the operator counts it from 0.`);

say(`\n## Latency: error rate + latency, two sequential checks (scenario S, ${RUNS} runs each)\n`);
say(
  "Policy: `policies/nginx-error-rate-latency.yaml` (the error-rate check above plus a latency check of the same judge; α 0.01 shared by the two). Stable serves 1 % of its requests slower than the latency bound; the canary's error rate is stable's (0.5 %), only its slow share changes (so \"failed requests\" below are its 5xx answers, not its slow ones).\n",
);
const errorsAndLatency = (parse(readFileSync(path.join(repoRoot, "policies", "nginx-error-rate-latency.yaml"), "utf8")) as AnalysisPolicy)
  .spec;
for (const [what, canarySlowRate] of [
  ["Good canary (slow share 1 %, as stable)", 0.01],
  ["2× slower canary (slow share 2 %)", 0.02],
  ["10× slower canary (slow share 10 %)", 0.1],
] as const) {
  const t0 = Date.now();
  const profile = { ...S, stableSlowRate: 0.01, canarySlowRate };
  const summaries = runSimulation({ policy: errorsAndLatency, profile, runs: RUNS, seed: SEED, label: "Fledge: error rate + latency" });
  say(`\n### ${what}\n`);
  say(renderSummaries(summaries, canarySlowRate <= 0.01));
  say(`_${RUNS} runs, ${((Date.now() - t0) / 1000).toFixed(1)} s._`);
}

say(`\n## Grid (${GRID_RUNS} runs per cell): rolled back % / mean time to decision (s)\n`);
say(
  "Canary traffic is the canary's share (10 %) of the total; each row is one stable error rate and canary traffic, each column a relative risk (canary ÷ stable error rate).\n",
);
const risks = [0.5, 1, 1.2, 1.5, 2, 5, 10];
say(`| stable | canary req/s | ${risks.map((r) => `RR ${r}`).join(" | ")} |\n|---|---|${risks.map(() => "---").join("|")}|`);
for (const stable of [0.001, 0.005, 0.02]) {
  for (const canaryRps of [0.1, 1, 10, 100]) {
    const cells = risks.map((rr) => {
      const s = ours(
        runSimulation({
          policy,
          profile: { ...S, rps: canaryRps * 10, stableErrorRate: stable, canaryErrorRate: Math.min(stable * rr, 1) },
          runs: GRID_RUNS,
          seed: SEED,
        }),
      );
      return `${f(s.rollbackRate * 100)} % / ${f(s.decisionSeconds.mean, 0)}`;
    });
    say(`| ${f(stable * 100, 1)} % | ${canaryRps} | ${cells.join(" | ")} |`);
  }
}
say(
  `\nA cell's time to decision includes promotions; undecided runs (the 1-hour cap) are left out of it. At 0.1 req/s a run needs 1,000 s for the 100 canary requests minRequests asks for; the 30-minute maxStepDuration then promotes what was never rejected; RR ≤ 1 columns are false-rollback rates.`,
);

const seconds = ((Date.now() - started) / 1000).toFixed(0);
const file = writeSection(
  "bench-analysis",
  `## Analysis (simulated)\n\nMeasured with \`make bench-analysis\` (seed ${SEED}; ${seconds} s on this machine's 2 cores).\n\n${out.join("\n")}`,
);
process.stdout.write(`\nwritten to ${file} (${seconds} s)\n`);
