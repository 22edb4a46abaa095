// `fledge wait`: block until a Rollout is healthy or degraded, with exit codes a CI pipeline can
// gate on. Pure decision over plain values; the polling lives in the command.
import type { Rollout } from "../api/types.js";
import { isDegraded, isHealthy } from "../controller/rollout-outcome.js";

export type WaitTarget = "healthy" | "degraded";

/** Exit codes: 0 reached, 2 ended in the other state, 3 timed out (1 is any other error). */
export const WAIT_EXIT = { reached: 0, otherOutcome: 2, timeout: 3 } as const;

export function waitVerdict(r: Rollout, target: WaitTarget): "reached" | "otherOutcome" | "pending" {
  if (target === "healthy") return isHealthy(r) ? "reached" : isDegraded(r) ? "otherOutcome" : "pending";
  return isDegraded(r) ? "reached" : isHealthy(r) ? "otherOutcome" : "pending";
}
