// Gateway API: the weights of the stable and canary backendRefs in the managed rule of the
// user's HTTPRoute (src/traffic/gateway-api/route.ts says which rule and how). The write is a
// JSON Patch of exactly those weights, guarded by the route's resourceVersion, so a concurrent
// edit by the user or their GitOps tool is never overwritten.
import { canaryServiceName, stableServiceName } from "../../api/names.js";
import type { HeaderRoute, Rollout } from "../../api/types.js";
import type { JsonPatchOp } from "../../kube/client.js";
import { oldestClaimant, type RolloutsNaming, type RouteObservation, type TrafficRouter } from "../router.js";
import {
  acceptance,
  canaryWeightOf,
  type HttpRoute,
  holdsWeights,
  managedRules,
  previewRouteOf,
  ruleProblem,
  rulesWithPreview,
} from "./route.js";

export interface HttpRouteCache {
  get(name: string, namespace?: string): HttpRoute | undefined;
}

/** Writes a JSON Patch to an HTTPRoute (the narrow part of the Kubernetes client this router needs). */
export interface HttpRouteWriter {
  /** Resolves with the route as the API server stored it. */
  patchHttpRoute(namespace: string, name: string, ops: JsonPatchOp[]): Promise<unknown>;
}

export const httpRouteOf = (rollout: Rollout) => rollout.spec.traffic.gatewayAPI?.httpRoute ?? "";
const ruleOf = (rollout: Rollout) => rollout.spec.traffic.gatewayAPI?.rule;

export class GatewayApiRouter implements TrafficRouter {
  readonly name = "gatewayAPI";
  /** Per route, our last write and the resourceVersion it started from (see current()). */
  private readonly written = new Map<string, { from: string; route: HttpRoute }>();

  constructor(
    private readonly writer: HttpRouteWriter,
    private readonly routes: HttpRouteCache,
    private readonly rollouts: RolloutsNaming,
  ) {}

  queryVariables(rollout: Rollout): { ingress: string } {
    return { ingress: httpRouteOf(rollout) };
  }

  observe(rollout: Rollout): RouteObservation {
    const namespace = rollout.metadata.namespace ?? "";
    const name = rollout.metadata.name ?? "";
    const routeName = httpRouteOf(rollout);
    const stable = stableServiceName(name);
    const canary = canaryServiceName(name);
    const notRoutable = (reason: string, message: string): RouteObservation => ({ routable: false, weight: undefined, reason, message });
    const route = this.routes.get(routeName, namespace);
    if (!route)
      return notRoutable(
        "HTTPRouteNotFound",
        `HTTPRoute ${routeName} not found in namespace ${namespace}; create it with Services ${stable} and ${canary} (weight 0) as backendRefs of a rule`,
      );
    const owner = oldestClaimant(
      this.rollouts.naming("HTTPRoute", namespace, routeName),
      (r) => r.metadata.namespace === namespace && httpRouteOf(r) === routeName && ruleOf(r) === ruleOf(rollout),
    )?.metadata.name;
    if (owner !== undefined && owner !== name)
      return notRoutable(
        "HTTPRouteClaimed",
        `HTTPRoute ${routeName}${ruleOf(rollout) ? ` rule ${ruleOf(rollout)}` : ""} is already managed by Rollout ${owner}; one rule can serve one Rollout`,
      );
    const problem = ruleProblem(route, stable, canary, ruleOf(rollout));
    if (problem) return notRoutable(problem.reason, problem.message);
    const verdict = acceptance(route);
    const weight = canaryWeightOf(route, stable, canary, ruleOf(rollout));
    const preview = previewRouteOf(route, canary);
    const withPreview = preview !== undefined ? { headerRoute: preview } : {};
    if (!verdict.accepted)
      return {
        routable: true,
        accepted: false,
        acknowledging: verdict.acknowledging,
        weight: undefined,
        ...withPreview,
        reason: verdict.reason,
        message: verdict.message,
      };
    const rules = managedRules(route, stable, ruleOf(rollout)).map((i) => route.spec?.rules?.[i]?.name ?? `#${i}`);
    return {
      routable: true,
      accepted: true,
      weight,
      ...withPreview,
      reason: "HTTPRouteAccepted",
      message: `HTTPRoute ${routeName} (generation ${route.metadata.generation ?? "?"}) accepted by every parent; rule ${rules.join(", ")} sends ${weight} % to ${canary}`,
    };
  }

  /** Adds, replaces or removes Fledge's preview rule; the rules list is atomic, so it is written
   * whole, guarded by the resourceVersion, with every other rule exactly as read. */
  async setHeaderRoute(rollout: Rollout, preview: HeaderRoute | undefined): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "";
    const name = rollout.metadata.name ?? "";
    const route = this.current(httpRouteOf(rollout), namespace);
    if (!route || !this.observe(rollout).routable) return;
    const rules = rulesWithPreview(route, stableServiceName(name), canaryServiceName(name), preview, ruleOf(rollout));
    if (JSON.stringify(rules) === JSON.stringify(route.spec?.rules ?? [])) return;
    await this.patch(route, [{ op: "replace", path: "/spec/rules", value: rules }]);
  }

  async setWeight(rollout: Rollout, weight: number): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "";
    const name = rollout.metadata.name ?? "";
    const route = this.current(httpRouteOf(rollout), namespace);
    if (!route || !this.observe(rollout).routable) return; // nothing to write, or another Rollout's
    const stable = stableServiceName(name);
    const canary = canaryServiceName(name);
    if (holdsWeights(route, stable, canary, weight, ruleOf(rollout))) return;
    const ops: JsonPatchOp[] = [];
    const ns = route.metadata.namespace ?? "";
    for (const i of managedRules(route, stable, ruleOf(rollout))) {
      (route.spec?.rules?.[i]?.backendRefs ?? []).forEach((ref, j) => {
        const isCore = (ref.group ?? "") === "" && (ref.kind ?? "Service") === "Service" && (ref.namespace ?? ns) === ns;
        const value = isCore && ref.name === stable ? 100 - weight : isCore && ref.name === canary ? weight : undefined;
        if (value === undefined || ref.weight === value) return;
        ops.push({ op: ref.weight === undefined ? "add" : "replace", path: `/spec/rules/${i}/backendRefs/${j}/weight`, value });
      });
    }
    if (ops.length > 0) await this.patch(route, ops);
  }

  /**
   * The route to write from: the cached copy, or our own last write while the cache has not
   * caught up with it. A decision can write one route twice (the weight, then the preview rule),
   * and each write is guarded by the resourceVersion it starts from: started from the stale
   * cached copy, the second write would always be refused.
   */
  private current(name: string, namespace: string): HttpRoute | undefined {
    const cached = this.routes.get(name, namespace);
    const key = `${namespace}/${name}`;
    const mine = this.written.get(key);
    if (mine && cached?.metadata.resourceVersion === mine.from) return mine.route;
    this.written.delete(key);
    return cached;
  }

  /** Writes `ops` guarded by the route's resourceVersion, and remembers what was stored. */
  private async patch(route: HttpRoute, ops: JsonPatchOp[]): Promise<void> {
    const namespace = route.metadata.namespace ?? "";
    const name = route.metadata.name ?? "";
    const from = route.metadata.resourceVersion ?? "";
    const stored = await this.writer.patchHttpRoute(namespace, name, [
      { op: "test", path: "/metadata/resourceVersion", value: from },
      ...ops,
    ]);
    // The API server answers a patch with the object it stored: an HTTPRoute like the one sent.
    this.written.set(`${namespace}/${name}`, { from, route: stored as HttpRoute });
  }
}
