// What the demo shows: a live panel on a terminal, plain lines elsewhere. Pure functions.
import type { Rollout } from "../api/types.js";

export interface ArmTraffic {
  requests: number;
  errors: number;
}

export interface Frame {
  title: string;
  rollout: Rollout | undefined;
  stable: ArmTraffic;
  canary: ArmTraffic;
  /** The canary's share of the proxy's recent answers (real data plane), next to the weight set. */
  measuredShare?: number;
  log: string[];
}

const bar = (weight: number, width = 30) =>
  `${"█".repeat(Math.round((weight / 100) * width))}${"░".repeat(width - Math.round((weight / 100) * width))}`;
const rate = (t: ArmTraffic) => (t.requests > 0 ? `${((t.errors / t.requests) * 100).toFixed(2)} %` : "-");

export function renderPanel(frame: Frame): string {
  const r = frame.rollout;
  const s = r?.status ?? {};
  const lines = [`Fledge demo — ${frame.title}`, ""];
  lines.push(`  phase    ${s.phase ?? "-"}   ${s.message ?? ""}`.slice(0, 160));
  lines.push(`  stable   ${s.stableRevision ?? "-"}`);
  lines.push(`  canary   ${s.canaryRevision ?? "-"}`);
  lines.push(`  weight   ${bar(s.canaryWeight ?? 0)} ${s.canaryWeight ?? 0} % to the canary (set)`);
  if (frame.measuredShare !== undefined)
    lines.push(
      `  proxy    ${bar(frame.measuredShare * 100)} ${(frame.measuredShare * 100).toFixed(1)} % of the last 5 s answered by the canary (measured)`,
    );
  if (s.headerRoute)
    lines.push(
      `  preview  ${s.headerRoute.name}: ${(s.headerRoute.match ?? []).map((m) => `${m.header}: ${m.value}`).join(", ")} → canary`,
    );
  lines.push("");
  const steps = r?.spec.strategy.canary.steps ?? [];
  steps.forEach((step, i) => {
    const current = s.canaryRevision !== undefined && s.currentStep === i;
    const done = s.canaryRevision !== undefined && (s.currentStep ?? 0) > i;
    const text =
      step.setWeight !== undefined
        ? `setWeight ${step.setWeight}`
        : step.setHeaderRoute
          ? `setHeaderRoute ${step.setHeaderRoute.name}`
          : step.approval
            ? "approval"
            : `pause ${step.pause?.duration ?? "until promoted"}`;
    lines.push(`  ${current ? "▶" : done ? "✓" : " "} ${text}`);
  });
  lines.push("");
  lines.push(`  traffic  stable ${frame.stable.requests} requests, ${frame.stable.errors} errors (${rate(frame.stable)})`);
  lines.push(`           canary ${frame.canary.requests} requests, ${frame.canary.errors} errors (${rate(frame.canary)})`);
  if (s.analysis?.explanation) lines.push(`  judge    ${s.analysis.explanation}`.slice(0, 240));
  lines.push("");
  for (const entry of frame.log.slice(-8)) lines.push(`  ${entry}`);
  return `${lines.join("\n")}\n`;
}

/** One line when something a person would notice changed (plain mode); undefined otherwise. */
export function plainLine(previous: Rollout | undefined, current: Rollout | undefined): string | undefined {
  const a = previous?.status ?? {};
  const b = current?.status ?? {};
  if (a.phase === b.phase && a.currentStep === b.currentStep && a.canaryWeight === b.canaryWeight && a.stableRevision === b.stableRevision)
    return undefined;
  return `phase=${b.phase ?? "-"} step=${b.canaryRevision ? (b.currentStep ?? 0) + 1 : "-"} weight=${b.canaryWeight ?? 0}% stable=${b.stableRevision ?? "-"} canary=${b.canaryRevision ?? "-"} — ${b.message ?? ""}`;
}

export interface StoryResult {
  chapter: string;
  outcome: string;
  seconds: number;
  canaryErrors: number;
  expected: string;
}

export function renderSummary(results: StoryResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.chapter} | ${r.outcome} | ${r.seconds.toFixed(1)} s | ${r.canaryErrors} | ${r.outcome === r.expected ? "as expected" : `EXPECTED ${r.expected}`} |`,
  );
  return `\n| release | outcome | time (first canary traffic → decision) | failed requests served by the canary | |\n|---|---|---|---|---|\n${rows.join("\n")}\n`;
}

/** The canary's measured share once each weight had settled, against the weight set. */
export function renderShares(shares: ReadonlyMap<string, number>): string {
  if (shares.size === 0) return "";
  const rows = [...shares].map(([at, share]) => `| ${at} | ${(share * 100).toFixed(1)} % |`);
  return `\n| weight set | share the proxy sent to the canary (last 5 s, measured) |\n|---|---|\n${rows.join("\n")}\n`;
}
