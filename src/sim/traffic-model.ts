// What `fledge sim` knows of the world, as plain data, and how it splits one tick of traffic.
// Pure: the I/O (reading Ingresses and Deployments, exporting counters) is in src/sim/sim.ts.
import type { V1Deployment, V1Ingress, V1Service } from "@kubernetes/client-node";
import { behaviourOfEnv } from "../simulated-app/behaviour.js";
import type { Random } from "../simulated-app/random.js";
import { NGINX_CANARY, NGINX_CANARY_WEIGHT } from "../traffic/nginx/objects.js";

export interface Backend {
  service: string;
  /** Available pods behind the Service, with their behaviour. */
  pools: Array<{ pods: number; errorRate: number; latencyMs: number }>;
}

export interface Route {
  namespace: string;
  ingress: string;
  host: string;
  path: string;
  stable: Backend;
  canary?: { ingress: string; weight: number; backend: Backend };
}

export interface Served {
  namespace: string;
  ingress: string;
  host: string;
  path: string;
  service: string;
  canary: string;
  status: string;
  latencySeconds: number;
}

const behaviourOf = (d: V1Deployment) =>
  behaviourOfEnv(d.spec?.template?.spec?.containers?.[0]?.env ?? [], d.spec?.template?.spec?.containers?.[0]?.image);

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export function backendFor(
  namespace: string,
  serviceName: string,
  services: readonly V1Service[],
  deployments: readonly V1Deployment[],
): Backend {
  const service = services.find((s) => s.metadata?.namespace === namespace && s.metadata?.name === serviceName);
  const pools = deployments
    .filter((d) => d.metadata?.namespace === namespace && selects(service?.spec?.selector, d.spec?.template?.metadata?.labels))
    .map((d) => ({ pods: d.status?.availableReplicas ?? 0, ...behaviourOf(d) }))
    .filter((p) => p.pods > 0);
  return { service: serviceName, pools };
}

/** The routes of every non-canary Ingress, each with the canary Ingress for the same host and path. */
export function buildRoutes(
  ingresses: readonly V1Ingress[],
  services: readonly V1Service[],
  deployments: readonly V1Deployment[],
): Route[] {
  const isCanary = (i: V1Ingress) => i.metadata?.annotations?.[NGINX_CANARY] === "true";
  const firstPath = (i: V1Ingress) => {
    const rule = i.spec?.rules?.[0];
    const path = rule?.http?.paths?.[0];
    const service = path?.backend.service?.name ?? i.spec?.defaultBackend?.service?.name;
    return { host: rule?.host ?? "*", path: path?.path ?? "/", service };
  };
  const routes: Route[] = [];
  for (const main of ingresses.filter((i) => !isCanary(i))) {
    const namespace = main.metadata?.namespace ?? "";
    const target = firstPath(main);
    if (!target.service) continue;
    const route: Route = {
      namespace,
      ingress: main.metadata?.name ?? "",
      host: target.host,
      path: target.path,
      stable: backendFor(namespace, target.service, services, deployments),
    };
    const canary = ingresses.find((i) => {
      if (!isCanary(i) || i.metadata?.namespace !== namespace) return false;
      const t = firstPath(i);
      return t.host === target.host && t.path === target.path && t.service !== undefined;
    });
    if (canary) {
      const weight = Number(canary.metadata?.annotations?.[NGINX_CANARY_WEIGHT] ?? 0);
      route.canary = {
        ingress: canary.metadata?.name ?? "",
        weight: Number.isFinite(weight) ? weight : 0,
        backend: backendFor(namespace, firstPath(canary).service ?? "", services, deployments),
      };
    }
    routes.push(route);
  }
  return routes;
}

/** Serves `count` requests on a route, as ingress-nginx would: weighted canary choice, then a pod. */
export function serveRequests(route: Route, count: number, random: Random): Served[] {
  const served: Served[] = [];
  for (let i = 0; i < count; i++) {
    // ingress-nginx sends no canary traffic when the canary backend has no endpoints.
    const toCanary = route.canary !== undefined && route.canary.backend.pools.length > 0 && random.next() * 100 < route.canary.weight;
    const backend = toCanary && route.canary ? route.canary.backend : route.stable;
    const total = backend.pools.reduce((sum, p) => sum + p.pods, 0);
    let status = "503";
    let latencySeconds = 0.001;
    if (total > 0) {
      const pick = random.next() * total;
      let cumulative = 0;
      const pool =
        backend.pools.find((p) => {
          cumulative += p.pods;
          return pick < cumulative;
        }) ?? backend.pools[backend.pools.length - 1];
      status = pool && random.bernoulli(pool.errorRate) ? "500" : "200";
      latencySeconds = random.exponential((pool?.latencyMs ?? 20) / 1000);
    }
    served.push({
      namespace: route.namespace,
      ingress: toCanary && route.canary ? route.canary.ingress : route.ingress,
      host: route.host,
      path: route.path,
      service: backend.service,
      canary: toCanary ? backend.service : "",
      status,
      latencySeconds,
    });
  }
  return served;
}
