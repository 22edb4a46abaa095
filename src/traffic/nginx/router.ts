// NGINX Ingress: the canary route is a second Ingress, cloned from the user's, pointing at the
// canary Service, with ingress-nginx's canary and canary-weight annotations.
import type { V1Ingress } from "@kubernetes/client-node";
import { LABEL_ROLLOUT, stableServiceName } from "../../api/names.js";
import type { HeaderRoute, Rollout } from "../../api/types.js";
import type { Kube } from "../../kube/client.js";
import { canonicalJson } from "../../kube/compare.js";
import { oldestClaimant, type RolloutsNaming, type RouteObservation, type TrafficRouter } from "../router.js";
import { canaryIngressFor, canaryIngressName, headerRouteOf, weightOf } from "./objects.js";

export interface IngressCache {
  get(name: string, namespace?: string): V1Ingress | undefined;
}

/** The user's Ingress a Rollout names (empty when it uses another router). */
export const ingressOf = (rollout: Rollout): string => rollout.spec.traffic.nginx?.ingress ?? "";

/** The Service names an Ingress sends traffic to (default backend and every path). */
export function ingressBackends(ingress: V1Ingress): string[] {
  const names = new Set<string>();
  const add = (name: string | undefined) => name && names.add(name);
  add(ingress.spec?.defaultBackend?.service?.name);
  for (const rule of ingress.spec?.rules ?? []) for (const path of rule.http?.paths ?? []) add(path.backend.service?.name);
  return [...names];
}

/** What differs between the canary Ingress there and the one the user's Ingress calls for now. */
function drift(current: V1Ingress, desired: V1Ingress): string | undefined {
  if (canonicalJson(current.spec) !== canonicalJson(desired.spec)) return "rules";
  const withoutWeight = (i: V1Ingress) => {
    const { "nginx.ingress.kubernetes.io/canary-weight": _weight, ...rest } = i.metadata?.annotations ?? {};
    return rest;
  };
  if (canonicalJson(withoutWeight(current)) !== canonicalJson(withoutWeight(desired))) return "annotations";
  return undefined;
}

export class NginxIngressRouter implements TrafficRouter {
  readonly name = "nginx";
  /** Per canary Ingress, our last write and the resourceVersion it replaced (see current()). */
  private readonly written = new Map<string, { from: string | undefined; ingress: V1Ingress }>();

  constructor(
    private readonly kube: Kube,
    private readonly ingresses: IngressCache,
    private readonly rollouts: RolloutsNaming,
  ) {}

  queryVariables(rollout: Rollout): { ingress: string } {
    return { ingress: ingressOf(rollout) };
  }

  observe(rollout: Rollout): RouteObservation {
    const namespace = rollout.metadata.namespace ?? "";
    const name = rollout.metadata.name ?? "";
    const ingressName = ingressOf(rollout);
    const canaryName = canaryIngressName(ingressName);
    const user = this.ingresses.get(ingressName, namespace);
    const canary = this.ingresses.get(canaryName, namespace);
    const notRoutable = (reason: string, message: string): RouteObservation => ({ routable: false, weight: undefined, reason, message });
    if (!user)
      return notRoutable(
        "IngressNotFound",
        `Ingress ${ingressName} not found in namespace ${namespace}; create it with its backend on Service ${stableServiceName(name)}`,
      );
    // One Ingress serves one Rollout: the one that made the canary copy, or else the oldest.
    const owner =
      canary?.metadata?.labels?.[LABEL_ROLLOUT] ??
      oldestClaimant(
        this.rollouts.naming("Ingress", namespace, ingressName),
        (r) => r.metadata.namespace === namespace && ingressOf(r) === ingressName,
      )?.metadata.name;
    if (owner !== undefined && owner !== name)
      return notRoutable(
        "IngressClaimed",
        `Ingress ${ingressName} is already routed by Rollout ${owner} (canary Ingress ${canaryName}); one Ingress can serve one Rollout: give this Rollout its own Ingress`,
      );
    const backends = ingressBackends(user);
    if (!backends.includes(stableServiceName(name)))
      return notRoutable(
        "IngressBackendMismatch",
        `Ingress ${ingressName} sends traffic to Service ${backends.join(", ") || "(none)"}, not to this Rollout's Service ${stableServiceName(name)}; point its backend at ${stableServiceName(name)}`,
      );
    const weight = weightOf(canary);
    if (!canary || weight === undefined)
      return {
        routable: true,
        weight: undefined,
        reason: "CanaryIngressMissing",
        message: `canary Ingress ${canaryName} is being created`,
      };
    const preview = headerRouteOf(canary);
    const withPreview = preview ? { headerRoute: preview.name } : {};
    const changed = drift(canary, canaryIngressFor(rollout, user, weight, preview));
    if (changed)
      return {
        routable: true,
        weight,
        stale: true,
        ...withPreview,
        reason: "CanaryIngressOutOfDate",
        message: `canary Ingress ${canaryName} no longer matches Ingress ${ingressName} (its ${changed} changed): rewriting it`,
      };
    return {
      routable: true,
      weight,
      ...withPreview,
      reason: "IngressFound",
      message: `canary Ingress ${canaryName} matches Ingress ${ingressName} (generation ${user.metadata?.generation ?? "?"}) at weight ${weight} %`,
    };
  }

  async setWeight(rollout: Rollout, weight: number): Promise<void> {
    const current = this.current(canaryIngressName(ingressOf(rollout)), rollout.metadata.namespace ?? "");
    await this.write(rollout, weight, headerRouteOf(current));
  }

  /** The preview route rides on the canary Ingress as ingress-nginx's canary-by-header annotations. */
  async setHeaderRoute(rollout: Rollout, route: HeaderRoute | undefined): Promise<void> {
    const current = this.current(canaryIngressName(ingressOf(rollout)), rollout.metadata.namespace ?? "");
    await this.write(rollout, weightOf(current) ?? 0, route);
  }

  /**
   * The canary Ingress as it is now: our own last write until the cache has caught up with it. A
   * decision that writes twice (weight 0, then the preview route removed, in a rollback) must
   * start its second write from its first: from the cache, it put the old weight back.
   */
  private current(name: string, namespace: string): V1Ingress | undefined {
    const cached = this.ingresses.get(name, namespace);
    const key = `${namespace}/${name}`;
    const mine = this.written.get(key);
    if (mine && cached?.metadata?.resourceVersion === mine.from) return mine.ingress;
    this.written.delete(key);
    return cached;
  }

  private async write(rollout: Rollout, weight: number, headerRoute: HeaderRoute | undefined): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "";
    const user = this.ingresses.get(ingressOf(rollout), namespace);
    if (!user || !this.observe(rollout).routable) return; // another Rollout's, or nothing to copy: write nothing
    const desired = canaryIngressFor(rollout, user, weight, headerRoute);
    const key = `${namespace}/${desired.metadata?.name}`;
    const current = this.current(desired.metadata?.name ?? "", namespace);
    if (!current) {
      // Create, not apply: two Rollouts racing for one Ingress cannot both win (the loser's
      // create fails with AlreadyExists and its next look sees the owner's label).
      this.written.set(key, { from: undefined, ingress: await this.kube.create(desired) });
      return;
    }
    if (current.metadata?.labels?.[LABEL_ROLLOUT] !== rollout.metadata.name) return;
    if (weightOf(current) === weight && drift(current, desired) === undefined) return;
    const cachedVersion = this.ingresses.get(desired.metadata?.name ?? "", namespace)?.metadata?.resourceVersion;
    this.written.set(key, { from: cachedVersion, ingress: await this.kube.apply(desired) });
  }
}
