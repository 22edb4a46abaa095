// A revision is a short hash of the pod template: the same template always gives the same
// revision, so a restarted operator recognises the revision it was working on.
import { createHash } from "node:crypto";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export function templateRevision(template: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(canonical(template)))
    .digest("hex")
    .slice(0, 10);
}
