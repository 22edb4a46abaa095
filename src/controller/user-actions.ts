// What a person can ask of a Rollout, with plain kubectl or the fledge CLI, through one
// annotation:   kubectl annotate rollout checkout fledge.dev/action=promote --overwrite
// Values: promote | promote-full | abort | retry | approve | reject, optionally followed by
// "/<anything>" to make the value unique (the CLI adds a timestamp). For approve and reject, a
// middle part names who decided: approve/<who>/<nonce> (the CLI puts the local user there,
// percent-encoded so that any name, "/" and all, survives exactly). The operator applies the
// action, records the exact value in status.handledAction and the outcome in
// status.lastAction, then removes the annotation; a value equal to handledAction is a leftover
// from a crash between those two writes and is not applied twice.

import type { RolloutStatus } from "../api/types.js";

export type UserActionKind = "promote" | "promote-full" | "abort" | "retry" | "approve" | "reject";

export interface UserAction {
  kind: UserActionKind;
  /** The annotation value as written, used to recognise an action already applied. */
  value: string;
}

const KINDS: readonly UserActionKind[] = ["promote", "promote-full", "abort", "retry", "approve", "reject"];

export function parseUserAction(value: string | undefined): UserAction | { invalid: string } | undefined {
  if (value === undefined || value === "") return undefined;
  const kind = value.split("/")[0]?.trim().toLowerCase();
  if (kind && (KINDS as readonly string[]).includes(kind)) return { kind: kind as UserActionKind, value };
  return { invalid: value };
}

export function actionValue(kind: UserActionKind, now = new Date()): string {
  return `${kind}/${now.getTime().toString(36)}`;
}

/** Who approved or rejected, from "approve/<who>/<nonce>" (or "approve/<who>"), decoded exactly. */
export function decidedBy(action: UserAction): string {
  const parts = action.value.split("/");
  const who =
    parts.length >= 3 ? parts.slice(1, -1).join("/") : parts.length === 2 && !/^[0-9a-z]{6,}$/.test(parts[1] ?? "") ? (parts[1] ?? "") : "";
  let name = who;
  try {
    name = decodeURIComponent(who);
  } catch {
    // typed by hand with a stray "%": keep it as written
  }
  return name.trim() === "" ? "kubectl" : name;
}

/** Any Unicode name is kept: it is percent-encoded, so "/" and "%" in it cannot be misread. */
export function approvalValue(kind: "approve" | "reject", who: string, now = new Date()): string {
  return `${kind}/${encodeURIComponent(who)}/${now.getTime().toString(36)}`;
}

/**
 * Why the operator would not act on `kind` given this status, in words for the person who
 * asked; undefined when it would (or when the status is too old to tell: the CLI then waits
 * for the operator's own answer in status.lastAction). The state machine
 * (src/controller/state-machine.ts) decides the same cases the same way.
 */
export function refusalOf(kind: UserActionKind, name: string, status: RolloutStatus, seenGeneration: boolean): string | undefined {
  if (!seenGeneration) return undefined;
  const s = status;
  const current = s.currentRevision;
  const rolledBack = current !== undefined && s.rolledBackRevision === current;
  const running = current !== undefined && s.canaryRevision === current;
  const stable = current !== undefined && s.stableRevision === current && !running;
  switch (kind) {
    case "retry":
      if (rolledBack) return undefined;
      return running
        ? `revision ${current} is running now; nothing to retry (retry reruns a rolled-back revision)`
        : `nothing to retry: no revision was rolled back (phase ${s.phase ?? "unknown"})`;
    case "promote":
      if (rolledBack)
        return `revision ${current} was rolled back; 'fledge retry ${name}' runs it again, 'fledge promote --full ${name}' makes it stable now`;
      if (stable) return `nothing to promote: revision ${current} is already stable`;
      return undefined;
    case "promote-full":
      if (stable) return `nothing to promote: revision ${current} is already stable`;
      return undefined;
    case "abort":
      if (rolledBack) return `revision ${current} is already rolled back`;
      if (stable) return `no canary is running (revision ${current} is stable); nothing to abort`;
      return undefined;
    default:
      return undefined;
  }
}
