// How `fledge status` and `fledge get` show a Rollout, as pure functions of plain objects.

import { checkFigures } from "../analysis/figures.js";
import { describeHeaderMatch } from "../api/header-route.js";
import type { Rollout } from "../api/types.js";

const ago = (iso: string | undefined, now: Date) => {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ""}` : `${Math.floor(s / 3600)}h`;
};

function weightBar(weight: number, width = 20): string {
  const filled = Math.round((weight / 100) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${weight} %`;
}

export function renderStatus(
  r: Rollout,
  recentEvents: Array<{ reason: string; message: string; type: string }>,
  now = new Date(),
  owner?: string,
): string {
  const s = r.status ?? {};
  const lines: string[] = [];
  const ready = s.conditions?.find((c) => c.type === "Ready");
  lines.push(
    `Rollout ${r.metadata.namespace}/${r.metadata.name}   ${s.phase ?? "Unknown"}   Ready=${ready?.status ?? "Unknown"}${ready ? ` (${ready.reason})` : ""}`,
  );
  if (s.message) lines.push(`  ${s.message}`);
  if (owner) lines.push(`  reconciled by ${owner}`);
  const workload = r.spec.workloadRef
    ? `   Deployment ${r.spec.workloadRef.name} (workloadRef, ${s.replicas ?? "?"} replicas)`
    : s.replicas !== undefined
      ? `   ${s.replicas} replicas`
      : "";
  lines.push(`  stable  ${s.stableRevision ?? "-"}${workload}${s.canaryRevision ? "" : "   (serves all traffic)"}`);
  if (s.canaryRevision) lines.push(`  canary  ${s.canaryRevision}   ${weightBar(s.canaryWeight ?? 0)}`);
  if (s.headerRoute?.match?.length)
    lines.push(`  preview route ${s.headerRoute.name}: requests with ${describeHeaderMatch(s.headerRoute.match)} go to the canary`);
  if (s.rolledBackRevision) lines.push(`  rolled back: ${s.rolledBackRevision} (fledge retry ${r.metadata.name} runs it again)`);
  const steps = r.spec.strategy.canary.steps;
  lines.push("  steps:");
  steps.forEach((step, i) => {
    const text =
      step.setWeight !== undefined
        ? `setWeight ${step.setWeight}`
        : step.setHeaderRoute
          ? step.setHeaderRoute.match?.length
            ? `setHeaderRoute ${step.setHeaderRoute.name} (${describeHeaderMatch(step.setHeaderRoute.match)})`
            : `setHeaderRoute ${step.setHeaderRoute.name} (removed)`
          : step.setCanaryScale
            ? `setCanaryScale ${step.setCanaryScale.replicas !== undefined ? `${step.setCanaryScale.replicas} pods` : step.setCanaryScale.weight !== undefined ? `${step.setCanaryScale.weight} % of stable` : "matchTrafficWeight"}`
            : step.approval
              ? `approval${step.approval.approvers?.length ? ` by ${step.approval.approvers.join(", ")}` : ""} (timeout ${step.approval.timeout ?? "1h"})`
              : step.pause?.duration
                ? `pause ${step.pause.duration}`
                : "pause (until promoted)";
    const current = s.canaryRevision !== undefined && s.currentStep === i;
    const done = s.canaryRevision !== undefined && (s.currentStep ?? 0) > i;
    lines.push(
      `   ${current ? "▶" : done ? "✓" : " "} ${i + 1}. ${text}${current && s.stepStartedAt ? `   (for ${ago(s.stepStartedAt, now)})` : ""}`,
    );
  });
  const gate = s.approval;
  if (gate && s.canaryRevision === gate.revision) {
    lines.push(
      gate.decision
        ? `  approval: ${gate.decision}${gate.decidedBy ? ` by ${gate.decidedBy}` : ""} at step ${gate.step + 1}`
        : `  approval pending at step ${gate.step + 1} since ${gate.requestedAt}: fledge approve ${r.metadata.name} | fledge reject ${r.metadata.name}`,
    );
    const wanted = r.spec.strategy.canary.steps[gate.step]?.approval?.slack?.channel;
    if (gate.slack)
      lines.push(`    Slack message ${gate.slack.channel}/${gate.slack.ts}${gate.slack.shown ? ` (shows ${gate.slack.shown})` : ""}`);
    else if (wanted && !gate.decision) lines.push(`    Slack message to ${wanted} not posted yet (see the Rollout's Warning Events)`);
  }
  const outbox = s.notifications?.outbox?.length ?? 0;
  if (outbox > 0) lines.push(`  notifications waiting to be delivered: ${outbox}`);
  const a = s.analysis;
  if (a) {
    lines.push(
      `  analysis (${r.spec.analysis?.policy ?? "?"}): ${a.decision ?? "Pending"}${a.reason ? ` ${a.reason}` : ""}${a.decidedBy ? `, decided by check ${a.decidedBy}` : ""}`,
    );
    for (const check of a.checks ?? []) {
      lines.push(
        `    check ${check.name} (${check.kind}): ${check.decision ?? "Pending"}${check.reason ? ` ${check.reason}` : ""} — ${checkFigures(check)}`,
      );
      if (check.explanation) lines.push(`      ${check.explanation}`);
    }
  }
  const conditions = (s.conditions ?? []).filter((c) => c.type !== "Ready");
  if (conditions.length > 0) {
    lines.push("  conditions:");
    for (const c of conditions) lines.push(`    ${c.type}=${c.status} ${c.reason}: ${c.message}`);
  }
  if (recentEvents.length > 0) {
    lines.push("  recent events:");
    for (const e of recentEvents.slice(-8)) lines.push(`    ${e.type === "Warning" ? "!" : "-"} ${e.reason}: ${e.message}`);
  }
  return `${lines.join("\n")}\n`;
}

export function renderTable(rollouts: Rollout[]): string {
  const header = ["NAMESPACE", "NAME", "PHASE", "READY", "STEP", "WEIGHT", "STABLE", "CANARY"];
  const rows = rollouts.map((r) => {
    const s = r.status ?? {};
    return [
      r.metadata.namespace ?? "",
      r.metadata.name ?? "",
      s.phase ?? "",
      s.conditions?.find((c) => c.type === "Ready")?.status ?? "",
      s.canaryRevision ? `${(s.currentStep ?? 0) + 1}/${r.spec.strategy.canary.steps.length}` : "-",
      String(s.canaryWeight ?? 0),
      s.stableRevision ?? "",
      s.canaryRevision ?? "",
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  return `${[header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
