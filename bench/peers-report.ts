// The tables of make bench-peers, rendered from the lanes a run saved (docs/bench-peers-lanes.json),
// so that they can be rendered again without a rerun:  npx tsx bench/peers-report.ts
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../src/devcluster/versions.js";
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
    ...(delivered.length ? ["", `The clients sent ${median(delivered)} req/s per app (median over lanes, range ${range(delivered)}; asked: 100).`] : []),
    ...(incident.length
      ? [
          "",
          `Incident: from ${run.incident.afterMs / 1000} s after the release, every pod of the lane answered errors × ${run.incident.multiplier} for ${run.incident.forMs / 1000} s; the stable arms served ${median(incident)} % errors meanwhile (median over lanes, range ${range(incident)} %). A rollback in that case is a false one.`,
        ]
      : []),
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const run = JSON.parse(readFileSync(process.argv[2] ?? LANES_FILE, "utf8")) as PeersRun;
  const table = renderPeers(run);
  process.stdout.write(`${table}\n`);
  process.stderr.write(`written to ${writeSection("peers", table)}\n`);
}
