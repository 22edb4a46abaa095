// `fledge wait`: block until a Rollout is healthy or degraded, with exit codes a CI pipeline can
// gate on. Pure decision over plain values; the polling lives in the command.
import type { Rollout } from "../api/types.js";
import { ROUTING_PROBLEM } from "../controller/state-machine.js";

export type WaitTarget = "healthy" | "degraded";

/** Exit codes: 0 reached, 2 ended in the other state, 3 timed out (1 is any other error). */
export const WAIT_EXIT = { reached: 0, otherOutcome: 2, timeout: 3 } as const;

/** Healthy: the stable Deployment runs the current template, traffic reaches it (Ready), and
 * the operator has seen this generation. */
export function isHealthy(r: Rollout): boolean {
  const s = r.status;
  return (
    s?.phase === "Healthy" &&
    s.conditions?.find((c) => c.type === "Ready")?.status === "True" &&
    s.stableRevision !== undefined &&
    s.stableRevision === s.currentRevision &&
    (s.observedGeneration ?? -1) >= (r.metadata.generation ?? 0)
  );
}

/** Degraded as an outcome: rolled back, or the stable version lost. A Rollout that is Degraded
 * only because its route is missing or claimed (Ready reason TrafficNotRouted) is neither
 * outcome yet: fixing the route makes it Healthy, so `wait` keeps waiting (and says why at its timeout). */
export function isDegraded(r: Rollout): boolean {
  const s = r.status;
  const routingOnly = s?.conditions?.find((c) => c.type === "Ready")?.reason === ROUTING_PROBLEM;
  return s?.phase === "Degraded" && !routingOnly && (s.observedGeneration ?? -1) >= (r.metadata.generation ?? 0);
}

export function waitVerdict(r: Rollout, target: WaitTarget): "reached" | "otherOutcome" | "pending" {
  if (target === "healthy") return isHealthy(r) ? "reached" : isDegraded(r) ? "otherOutcome" : "pending";
  return isDegraded(r) ? "reached" : isHealthy(r) ? "otherOutcome" : "pending";
}
