// How traffic is split between stable and canary, one module per kind of router (NGINX
// canary annotations in src/traffic/nginx, the Gateway API's HTTPRoute in src/traffic/gateway-api). The weight is always read back from the
// routing object, so the object — not the operator's memory — is the truth.
import type { HeaderRoute, Rollout } from "../api/types.js";

export interface RouteObservation {
  /** The user's routing object exists, sends traffic to this Rollout's Service, and is this Rollout's alone. */
  routable: boolean;
  /** The weight the canary gets now; undefined when the canary route does not exist yet. */
  weight: number | undefined;
  /** The TrafficRouted condition, exactly as the router words it (CamelCase reason, and a message
   * that says only what was checked, or what to create or fix). */
  reason: string;
  message: string;
  /** The canary route exists but no longer follows the user's object (they edited it): rewrite it. */
  stale?: boolean;
  /** Gateway API: whether every parent accepted the route at its current generation (undefined
   * for routers that have no such report). Not accepted: nothing is routed yet, whatever the weights. */
  accepted?: boolean;
  /** Not accepted only because the gateway has yet to report on the route's latest generation,
   * having accepted the one before: traffic still reaches the backends as that one routes it.
   * A moment after every weight write; not a routing problem. */
  acknowledging?: boolean;
  /** The name of the header preview route the routing objects carry now, if any. */
  headerRoute?: string;
}

/** The Rollouts that name a routing object (their Ingress or HTTPRoute). The operator answers
 * from the index its watch keeps (src/kube/reference-index.ts): with thousands of Rollouts in a
 * namespace, every reconcile copying and scanning all of them cost more than the reconcile. */
export interface RolloutsNaming {
  naming(kind: "Ingress" | "HTTPRoute", namespace: string, name: string): readonly Rollout[];
}

/** Of several Rollouts that name one routing object, the oldest (then the first by name) is
 * served and the others are refused: the same answer from every replica, without writing. */
export function oldestClaimant(rollouts: readonly Rollout[], claims: (r: Rollout) => boolean): Rollout | undefined {
  const created = (r: Rollout) => Date.parse(r.metadata.creationTimestamp?.toString() ?? "") || 0;
  return rollouts
    .filter((r) => claims(r) && !r.metadata.deletionTimestamp)
    .sort((a, b) => created(a) - created(b) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))[0];
}

export interface TrafficRouter {
  readonly name: string;
  /** The router's own {{variables}} for the policy's queries (e.g. {{ingress}}). */
  queryVariables(rollout: Rollout): { ingress: string };
  /** Reads the routing objects (from a cache: no API call). */
  observe(rollout: Rollout): RouteObservation;
  /** Creates or updates the canary route with this weight; writes nothing if it already holds it,
   * and never writes a route that belongs to another Rollout. */
  setWeight(rollout: Rollout, weight: number): Promise<void>;
  /** Sets the header preview route (requests with the headers go to the canary), or removes it. */
  setHeaderRoute(rollout: Rollout, route: HeaderRoute | undefined): Promise<void>;
}
