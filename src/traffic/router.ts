// How traffic is split between stable and canary, one module per kind of router (NGINX
// Ingress today; the Gateway API's HTTPRoute next). The weight is always read back from the
// routing object, so the object — not the operator's memory — is the truth.
import type { Rollout } from "../api/types.js";

export interface RouteObservation {
  /** The user's routing object (e.g. their Ingress) exists. */
  routable: boolean;
  /** The weight the canary gets now; undefined when the canary route does not exist yet. */
  weight: number | undefined;
  /** What is wrong when not routable, in words that say what to create or fix. */
  problem?: string;
}

export interface TrafficRouter {
  readonly name: string;
  /** Reads the routing objects (from a cache: no API call). */
  observe(rollout: Rollout): RouteObservation;
  /** Creates or updates the canary route with this weight; writes nothing if it already holds it. */
  setWeight(rollout: Rollout, weight: number): Promise<void>;
}
