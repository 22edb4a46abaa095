// Picks the router a Rollout's spec.traffic names. Each router is one module (src/traffic/nginx,
// src/traffic/gateway-api); this is the only place that knows there are several.
import type { Rollout } from "../api/types.js";
import type { RouteObservation, TrafficRouter } from "./router.js";

/** Stands in for a router whose API the cluster does not serve: says so, and writes nothing. */
export class UnavailableRouter implements TrafficRouter {
  constructor(
    readonly name: string,
    private readonly reason: string,
    private readonly message: string,
  ) {}
  queryVariables(): { ingress: string } {
    return { ingress: "" };
  }
  observe(): RouteObservation {
    return { routable: false, weight: undefined, reason: this.reason, message: this.message };
  }
  async setWeight(): Promise<void> {}
  async setHeaderRoute(): Promise<void> {}
}

export class Routers {
  constructor(
    private readonly nginx: TrafficRouter,
    private readonly gatewayApi: TrafficRouter,
  ) {}

  for(rollout: Rollout): TrafficRouter {
    return rollout.spec.traffic.gatewayAPI ? this.gatewayApi : this.nginx;
  }
}
