// The tables of make bench-peers, rendered from the lanes a run saved (docs/bench-peers-lanes.json),
// so that they can be rendered again without a rerun:  npx tsx bench/peers-report.ts
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { analysisSettings } from "../src/analysis/checks.js";
import type { AnalysisPolicy } from "../src/api/types.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { type RunResult, simulateMany, type TrafficProfile } from "../src/simulate/engine.js";
import { BENCH_STEPS, PEER_CONFIGS, type PeerName, simulatePeerMany } from "../src/simulate/peer-models.js";
import { quantile } from "../src/simulate/stats.js";
import { writeSection } from "./markdown-section.js";

export type CaseName = "10x" | "2x" | "good" | "incident";

export const LANES_FILE = path.join(repoRoot, "docs", "bench-peers-lanes.json");

/** One contender's run of one case, as measured. */
export interface PeerLane {
  contender: string;
  case: CaseName;
  ns: string;
  outcome: "promoted" | "rolled back" | "no decision";
  /** Seconds from the release (the template change) to the first request a canary pod answered. */
  firstTrafficAfter?: number;
  /** Seconds from the first request a canary pod answered to the canary weight back at 0. */
  toZero?: number;
  /** Seconds from the first request a canary pod answered to the promotion. */
  toPromote?: number;
  /** Failed requests the canary's pods served (until weight 0 when rolled back). */
  canaryErrors: number;
  canaryRequests: number;
  /** Requests the app's clients sent a second, from the release to the end of the lane (asked: 100). */
  requestsPerSecond?: number;
  /** The incident case: the stable arm's error share while the incident lasted (the check that it happened). */
  incidentStableErrors?: number;
}

export interface PeersRun {
  date: string;
  command: string;
  minutes: number;
  machine: string;
  versions: { argoRollouts: string; flagger: string; traefik: string; prometheus: string };
  cases: CaseName[];
  contenders: string[];
  incident: { afterMs: number; forMs: number; multiplier: number };
  lanes: PeerLane[];
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => (xs.length ? quantile(sorted(xs), 0.5).toFixed(1) : "–");
const range = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : "–");
const CASE_TITLE: Record<CaseName, string> = {
  "10x": "10× canary (5 % errors)",
  "2x": "2× canary (1 %)",
  good: "good canary (0.5 %, as stable)",
  incident: "good canary during an incident (both arms × 5)",
};

const CASE_CANARY_ERRORS: Record<CaseName, number> = { "10x": 0.05, "2x": 0.01, good: 0.005, incident: 0.005 };
/** Simulated rollouts per model cell. */
const MODEL_RUNS = Number(process.env.MODEL_RUNS ?? 1000);

/** What the models (`fledge simulate --compare`) predict for a contender and case, with the same
 * settings, traffic and schedule; the incident placed where it fell after the lanes' first canary traffic. */
function modelled(run: PeersRun, contender: string, caseName: CaseName): RunResult[] {
  const lanes = run.lanes.filter((l) => l.contender === contender && l.case === caseName);
  const lag = quantile(sorted(lanes.flatMap((l) => (l.firstTrafficAfter !== undefined ? [l.firstTrafficAfter] : []))), 0.5);
  const profile: TrafficProfile = {
    rps: 100,
    weights: BENCH_STEPS.map((s) => s.weight),
    stepSeconds: BENCH_STEPS[0]?.pauseSeconds ?? 0,
    stableErrorRate: 0.005,
    canaryErrorRate: CASE_CANARY_ERRORS[caseName],
    maxSeconds: 20 * 60,
    ...(caseName === "incident"
      ? {
          perturbations: [
            {
              kind: "common-mode",
              factor: run.incident.multiplier,
              fromSeconds: Math.round(run.incident.afterMs / 1000 - (Number.isFinite(lag) ? lag : 0)),
              durationSeconds: run.incident.forMs / 1000,
            },
          ],
        }
      : {}),
  };
  if (contender in PEER_CONFIGS) return simulatePeerMany(PEER_CONFIGS[contender as PeerName], profile, MODEL_RUNS, 1);
  const policy = (parse(readFileSync(path.join(repoRoot, "policies", "traefik-nginx-error-rate.yaml"), "utf8")) as AnalysisPolicy).spec;
  return simulateMany(analysisSettings(policy, { analysedSteps: BENCH_STEPS.length }), profile, MODEL_RUNS, 1);
}

function modelRows(run: PeersRun): string[] {
  const rows: string[] = [];
  for (const caseName of run.cases)
    for (const contender of run.contenders) {
      const mine = run.lanes.filter((r) => r.case === caseName && r.contender === contender);
      if (mine.length === 0) continue;
      const model = modelled(run, contender, caseName);
      const share = (xs: unknown[], of: unknown[]) => `${Math.round((100 * xs.length) / Math.max(1, of.length))} %`;
      const rolledBack = model.filter((r) => r.outcome === "rolled-back");
      const promoted = model.filter((r) => r.outcome === "promoted");
      const measuredZero = mine.flatMap((r) => (r.toZero !== undefined ? [r.toZero] : []));
      const measuredPromote = mine.flatMap((r) => (r.toPromote !== undefined ? [r.toPromote] : []));
      const measuredErrors = mine.filter((r) => r.outcome === "rolled back").map((r) => r.canaryErrors);
      rows.push(
        `| ${CASE_TITLE[caseName]} | ${contender} | ${share(
          mine.filter((r) => r.outcome === "rolled back"),
          mine,
        )} / ${share(rolledBack, model)} | ${median(measuredZero)} / ${median(rolledBack.map((r) => r.seconds))} | ${median(measuredErrors)} / ${median(rolledBack.map((r) => r.canaryErrors))} | ${median(measuredPromote)} / ${median(promoted.map((r) => r.seconds))} |`,
      );
    }
  return rows;
}

/** Peer ÷ Fledge for the cases where a canary should be rolled back: median time to weight 0 and
 * median failed requests served, each over the lanes that were rolled back. */
export function ratioRows(run: PeersRun): string[] {
  const rows: string[] = [];
  const med = (xs: number[]) => (xs.length ? quantile(sorted(xs), 0.5) : Number.NaN);
  for (const caseName of run.cases.filter((c) => c === "10x" || c === "2x")) {
    const of = (contender: string) =>
      run.lanes.filter((l) => l.case === caseName && l.contender === contender && l.outcome === "rolled back");
    const fledge = of("fledge");
    const fledgeZero = med(fledge.flatMap((l) => (l.toZero !== undefined ? [l.toZero] : [])));
    const fledgeErrors = med(fledge.map((l) => l.canaryErrors));
    for (const contender of run.contenders.filter((c) => c !== "fledge")) {
      const mine = run.lanes.filter((l) => l.case === caseName && l.contender === contender);
      const back = of(contender);
      const ratio = (x: number, y: number) => (Number.isFinite(x) && Number.isFinite(y) && y > 0 ? `${(x / y).toFixed(1)}×` : "–");
      rows.push(
        `| ${CASE_TITLE[caseName]} | ${contender} | ${back.length} of ${mine.length} | ${ratio(med(back.flatMap((l) => (l.toZero !== undefined ? [l.toZero] : []))), fledgeZero)} | ${ratio(med(back.map((l) => l.canaryErrors)), fledgeErrors)} |`,
      );
    }
  }
  return rows;
}

export function renderPeers(run: PeersRun): string {
  const rows: string[] = [];
  for (const caseName of run.cases)
    for (const contender of run.contenders) {
      const mine = run.lanes.filter((r) => r.case === caseName && r.contender === contender);
      const count = (o: string) => mine.filter((r) => r.outcome === o).length;
      const toZero = mine.flatMap((r) => (r.toZero !== undefined ? [r.toZero] : []));
      const toPromote = mine.flatMap((r) => (r.toPromote !== undefined ? [r.toPromote] : []));
      const errors = mine.map((r) => r.canaryErrors);
      rows.push(
        `| ${CASE_TITLE[caseName]} | ${contender} | ${count("rolled back")} / ${count("promoted")} / ${count("no decision")} | ${median(toZero)} (${range(toZero)}) | ${median(errors)} (${range(errors)}) | ${median(toPromote)} (${range(toPromote)}) |`,
      );
    }
  const delivered = run.lanes.flatMap((r) => (r.requestsPerSecond !== undefined ? [r.requestsPerSecond] : []));
  const incident = run.lanes.flatMap((r) => (r.incidentStableErrors !== undefined ? [r.incidentStableErrors * 100] : []));
  return [
    "### Fledge beside the real Argo Rollouts and Flagger",
    "",
    `Measured ${run.date} on this machine (${run.machine}): \`${run.command}\`, run time ${run.minutes.toFixed(0)} min. Argo Rollouts ${run.versions.argoRollouts}, Flagger ${run.versions.flagger}, Traefik ${run.versions.traefik} (Ingress-NGINX provider), Prometheus ${run.versions.prometheus}; 100 req/s per app, stable 0.5 % errors; each contender in its own namespaces at the same time (bench/peers.ts says how each is configured). Times run from the first request a canary pod answered; failed requests are counted by the clients from the pods' own answers; a lane still undecided when its time ran out counts as "no decision".`,
    "",
    "| case | contender | rolled back / promoted / no decision | → weight 0, s: median (range) | failed requests the canary served: median (range) | → promoted, s: median (range) |",
    "|---|---|---|---|---|---|",
    ...rows,
    ...(delivered.length
      ? ["", `The clients sent ${median(delivered)} req/s per app (median over lanes, range ${range(delivered)}; asked: 100).`]
      : []),
    ...(incident.length
      ? [
          "",
          `Incident: from ${run.incident.afterMs / 1000} s after the release, every pod of the lane answered errors × ${run.incident.multiplier} for ${run.incident.forMs / 1000} s; the stable arms served ${median(incident)} % errors meanwhile (median over lanes, range ${range(incident)} %). A rollback in that case is a false one.`,
        ]
      : []),
    "",
    "Peer ÷ Fledge, medians over the lanes each rolled back (a peer that promoted a bad canary served it to everyone instead):",
    "",
    "| case | contender | rolled back | time to weight 0 | failed requests served |",
    "|---|---|---|---|---|",
    ...ratioRows(run),
    "",
    "#### Measured against the models",
    "",
    `What \`fledge simulate --compare\` predicts for the same settings, traffic and steps (src/simulate/peer-models.ts for the peers; Fledge's own analysis code for Fledge; ${MODEL_RUNS} simulated rollouts a cell, seed 1), beside the lanes above. The models start at the canary's first traffic and leave out what happens before it (pods starting, a controller noticing the release); the incident is placed where it fell after the lanes' first canary traffic (median).`,
    "",
    "| case | contender | rolled back: measured / model | → weight 0, s (median): measured / model | failed requests served before weight 0 (median): measured / model | → promoted, s (median): measured / model |",
    "|---|---|---|---|---|---|",
    ...modelRows(run),
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const run = JSON.parse(readFileSync(process.argv[2] ?? LANES_FILE, "utf8")) as PeersRun;
  const table = renderPeers(run);
  process.stdout.write(`${table}\n`);
  process.stderr.write(`written to ${writeSection("peers", table)}\n`);
}
