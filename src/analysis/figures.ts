// The analysis in words, for people: `fledge status`, Slack notices and CloudEvents all say the
// same thing the same way.
import type { AnalysisStatus, ArmCounts, CheckStatus } from "../api/types.js";

const count = (n: number) => n.toLocaleString("en-US");

/** "canary 1,204 requests, 3 errors (0.25 %); stable 4,810 requests, 5 errors (0.10 %)"; a latency
 * check counts slow requests, a query check shows its last value. */
export function checkFigures(check: CheckStatus): string {
  if (check.kind === "query") return check.value === undefined ? "no value yet" : `value ${check.value}`;
  const bad = check.kind === "latency" ? "slow" : "errors";
  const arm = (name: string, a: ArmCounts | undefined) =>
    a
      ? `${name} ${count(a.requests)} requests, ${count(a.errors)} ${bad}` +
        (a.requests > 0 ? ` (${((100 * a.errors) / a.requests).toFixed(2)} %)` : "")
      : `${name} -`;
  return `${arm("canary", check.canary)}; ${arm("stable", check.stable)}`;
}

/** Every check's figures (named when there are several), then the judges' words. */
export function analysisFigures(analysis: AnalysisStatus | undefined): string | undefined {
  if (!analysis) return undefined;
  const checks = analysis.checks ?? [];
  const figures =
    checks.length === 1 && checks[0] ? checkFigures(checks[0]) : checks.map((c) => `${c.name}: ${checkFigures(c)}`).join("; ");
  const judged = analysis.explanation ? `; ${analysis.explanation}` : "";
  return `${figures}${judged}`.slice(0, 1024);
}
