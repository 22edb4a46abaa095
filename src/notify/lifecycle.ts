// Which moves of a rollout are told to the outside (Slack thread, CloudEvents), as a pure
// function of one reconcile's decision. The notices go into status.notifications.outbox in the
// SAME status write as the move they report, so a crash can neither lose one (the move and
// its notice are written together) nor repeat it (a delivered notice is removed from status,
// and the next operator finds only what is left). Ids are deterministic so a receiver that
// gets a notice twice (delivery retried after a partial failure) can tell.
import { createHash } from "node:crypto";
import { analysisFigures } from "../analysis/figures.js";
import type { AnalysisStatus, LifecycleKind, LifecycleNotice, LifecycleTransition, RolloutStatus } from "../api/types.js";

/** Oldest notices are dropped beyond this, so status stays small when no sink answers for long. */
export const OUTBOX_LIMIT = 20;

export function noticeId(uid: string, revision: string, kind: LifecycleKind, at: string): string {
  return createHash("sha256").update(`${uid}\n${revision}\n${kind}\n${at}`).digest("hex").slice(0, 32);
}

/** The notices of one decision's transitions (none for most reconciles); the figures are those of
 * the analysis the decision ended with (a promotion or rollback clears it: then the one before). */
export function noticesFor(
  uid: string,
  transitions: readonly LifecycleTransition[],
  analysis: AnalysisStatus | undefined,
  now: Date,
): LifecycleNotice[] {
  const at = now.toISOString();
  return transitions.map(({ kind, revision, message, check }) => {
    const figures =
      kind === "Promoted" || kind === "RolledBack" || kind === "DeadlineExceeded" || kind === "ApprovalRequested"
        ? analysisFigures(analysis)
        : undefined;
    return {
      id: noticeId(uid, revision, kind, at),
      kind,
      revision,
      at,
      message: message.slice(0, 2048),
      ...(figures ? { figures } : {}),
      ...(check ? { check } : {}),
    };
  });
}

/** status with `notices` appended to its outbox (oldest dropped beyond OUTBOX_LIMIT). */
export function withNotices(status: RolloutStatus, notices: LifecycleNotice[]): RolloutStatus {
  if (notices.length === 0) return status;
  const outbox = [...(status.notifications?.outbox ?? []), ...notices].slice(-OUTBOX_LIMIT);
  return { ...status, notifications: { ...status.notifications, outbox } };
}
