// The two outcomes of a release as a person (or a pipeline) reads them from a Rollout's status:
// shared by `fledge wait` and the demo, so both call the same moment "promoted" or "rolled back".
import type { Rollout } from "../api/types.js";
import { ROUTING_PROBLEM } from "./state-machine.js";

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
