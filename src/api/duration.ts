// Durations as the CRD accepts them ("500ms", "30s", "1m30s", "2h"), in milliseconds.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const consumed = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || consumed !== text) {
    throw new Error(`"${text}" is not a duration; expected something like 30s, 1m or 1h30m`);
  }
  return parts.reduce((sum, [, value, unit]) => sum + Number(value) * (UNIT_MS[unit as string] ?? 0), 0);
}
