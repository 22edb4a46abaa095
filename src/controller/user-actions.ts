// What a person can ask of a Rollout, with plain kubectl or the fledge CLI, through one
// annotation:   kubectl annotate rollout checkout fledge.dev/action=promote --overwrite
// Values: promote | promote-full | abort | retry | approve | reject, optionally followed by
// "/<anything>" to make the value unique (the CLI adds a timestamp). For approve and reject, a
// middle part names who decided: approve/<who>/<nonce> (the CLI puts the local user there). The operator applies the action, records the
// exact value in status.handledAction, then removes the annotation; a value equal to
// handledAction is a leftover from a crash between those two writes and is not applied twice.

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

/** Who approved or rejected, from "approve/<who>/<nonce>" (or "approve/<who>"). */
export function decidedBy(action: UserAction): string {
  const parts = action.value.split("/");
  return parts.length >= 3
    ? (parts[1] ?? "unknown")
    : parts.length === 2 && !/^[0-9a-z]{6,}$/.test(parts[1] ?? "")
      ? (parts[1] ?? "unknown")
      : "kubectl";
}

export function approvalValue(kind: "approve" | "reject", who: string, now = new Date()): string {
  return `${kind}/${who.replace(/[^A-Za-z0-9._@:-]/g, "_")}/${now.getTime().toString(36)}`;
}
