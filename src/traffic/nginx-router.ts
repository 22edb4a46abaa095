// NGINX Ingress: the canary route is a second Ingress, cloned from the user's, pointing at the
// canary Service, with ingress-nginx's canary and canary-weight annotations.
import type { V1Ingress } from "@kubernetes/client-node";
import { canaryIngressName, LABEL_ROLLOUT } from "../api/names.js";
import type { Rollout } from "../api/types.js";
import type { Kube } from "../kube/client.js";
import { canonicalJson } from "../kube/compare.js";
import { canaryIngressFor, weightOf } from "../kube/objects.js";
import type { RouteObservation, TrafficRouter } from "./router.js";

export interface IngressCache {
  get(name: string, namespace?: string): V1Ingress | undefined;
}

export class NginxIngressRouter implements TrafficRouter {
  readonly name = "nginx";

  constructor(
    private readonly kube: Kube,
    private readonly ingresses: IngressCache,
  ) {}

  observe(rollout: Rollout): RouteObservation {
    const namespace = rollout.metadata.namespace ?? "";
    const ingress = rollout.spec.traffic.nginx.ingress;
    const canary = this.ingresses.get(canaryIngressName(ingress), namespace);
    // An Ingress of that name that we did not make is not ours to read or write.
    const ours = canary?.metadata?.labels?.[LABEL_ROLLOUT] === rollout.metadata.name;
    const routable = this.ingresses.get(ingress, namespace) !== undefined;
    return {
      routable,
      weight: ours ? weightOf(canary) : undefined,
      ...(routable
        ? {}
        : {
            problem: `Ingress ${ingress} not found in namespace ${namespace}; create it with its backend on Service ${rollout.metadata.name}`,
          }),
    };
  }

  async setWeight(rollout: Rollout, weight: number): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "";
    const user = this.ingresses.get(rollout.spec.traffic.nginx.ingress, namespace);
    if (!user) return;
    const desired = canaryIngressFor(rollout, user, weight);
    const current = this.ingresses.get(desired.metadata?.name ?? "", namespace);
    const same =
      current &&
      weightOf(current) === weight &&
      canonicalJson(current.spec) === canonicalJson(desired.spec) &&
      canonicalJson(current.metadata?.annotations) === canonicalJson(desired.metadata?.annotations) &&
      current.metadata?.labels?.[LABEL_ROLLOUT] === rollout.metadata.name;
    if (!same) await this.kube.apply(desired);
  }
}

/** Picks the router a Rollout asks for (only NGINX Ingress exists today). */
export function routerFor(_rollout: Rollout, routers: { nginx: TrafficRouter }): TrafficRouter {
  return routers.nginx;
}
