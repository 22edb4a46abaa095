// The clients of `fledge sim` on a real data plane: real HTTP requests through Traefik's entry
// point to every HTTPRoute attached to the local Gateway and every NGINX-class Ingress, at a
// steady Poisson rate. Each answer names the pod's track (src/dataplane/pods.ts), so the share
// the proxy really sent to the canary is measured, not assumed. Bounded in time and count, and
// stops by itself.
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";
import { HEADER_TRACK } from "../simulated-app/behaviour.js";
import { Random } from "../simulated-app/random.js";
import { NGINX_CANARY } from "../traffic/nginx/objects.js";
import { refreshEvery } from "./refresh.js";

export interface LoadTarget {
  /** "namespace/HTTPRoute/name" or "namespace/Ingress/name". */
  key: string;
  namespace: string;
  host: string;
  path: string;
}

interface RouteLike {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    parentRefs?: Array<{ name?: string; namespace?: string; kind?: string }>;
    hostnames?: string[];
    rules?: Array<{ matches?: Array<{ path?: { value?: string }; headers?: unknown[] }> }>;
  };
}

/** Where to send requests: each route on the Gateway and each non-canary Ingress of the class. Pure. */
export function loadTargets(
  routes: readonly RouteLike[],
  ingresses: readonly k8s.V1Ingress[],
  gateway: { namespace: string; name: string },
  ingressClass: string,
): LoadTarget[] {
  const targets: LoadTarget[] = [];
  for (const route of routes) {
    const ns = route.metadata?.namespace ?? "";
    const attached = (route.spec?.parentRefs ?? []).some(
      (p) => (p.kind ?? "Gateway") === "Gateway" && p.name === gateway.name && (p.namespace ?? ns) === gateway.namespace,
    );
    if (!attached) continue;
    // The first rule's path without a header match: the traffic every client sends.
    const match = (route.spec?.rules ?? []).flatMap((r) => r.matches ?? [{}]).find((m) => !m.headers?.length);
    targets.push({
      key: `${ns}/HTTPRoute/${route.metadata?.name}`,
      namespace: ns,
      host: route.spec?.hostnames?.[0] ?? `${route.metadata?.name}.${ns}.local`,
      path: match?.path?.value ?? "/",
    });
  }
  for (const ingress of ingresses) {
    if (ingress.spec?.ingressClassName !== ingressClass || ingress.metadata?.annotations?.[NGINX_CANARY] === "true") continue;
    const rule = ingress.spec?.rules?.[0];
    const ns = ingress.metadata?.namespace ?? "";
    targets.push({
      key: `${ns}/Ingress/${ingress.metadata?.name}`,
      namespace: ns,
      host: rule?.host ?? `${ingress.metadata?.name}.${ns}.local`,
      path: rule?.http?.paths?.[0]?.path ?? "/",
    });
  }
  return targets;
}

export interface ArmTally {
  /** Answered by a pod of this track. */
  requests: number;
  /** Of those, 5xx. */
  errors: number;
}

export interface Tally {
  requests: number;
  stable: ArmTally;
  canary: ArmTally;
  /** Answered by the proxy itself (no pod: e.g. 503 for a backend without endpoints) or not at all. */
  proxyErrors: number;
  /** Those by status ("0": no answer), with the time of the last one. */
  proxyCodes: Record<string, number>;
  lastProxyErrorAt?: string;
}

const emptyTally = (): Tally => ({
  requests: 0,
  stable: { requests: 0, errors: 0 },
  canary: { requests: 0, errors: 0 },
  proxyErrors: 0,
  proxyCodes: {},
});

export interface LoadOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** Traefik's entry point on the host (LocalCluster.dataPlane.webUrl). */
  webUrl: string;
  gateway: { namespace: string; name: string };
  ingressClass: string;
  /** Requests per second per target. */
  rps: number;
  namespace?: string;
  /** Sent with every request (e.g. a preview header). */
  headers?: Record<string, string>;
  /** Stops by itself after this long or this many requests (defaults: 1 h, 2,000,000). */
  maxDurationMs?: number;
  maxRequests?: number;
  seed?: number;
  refreshMs?: number;
}

export interface RunningLoad {
  /** Totals per target key since the start. */
  totals(): Record<string, Tally>;
  /** The canary's share of pod answers for a target over the last `windowMs` (undefined: none). */
  recentCanaryShare(key: string, windowMs: number): number | undefined;
  targets(): LoadTarget[];
  stop(): Promise<void>;
  /** Resolves when the load stopped (by stop(), or by its own bounds). */
  done: Promise<void>;
}

/** One request through the proxy; resolves with the status and the answering track ("" if no pod answered). */
export function sendRequest(
  agent: http.Agent,
  webUrl: string,
  target: { host: string; path: string },
  headers: Record<string, string> = {},
): Promise<{ status: number; track: string }> {
  return new Promise((resolve) => {
    const req = http.get(`${webUrl}${target.path}`, { agent, headers: { host: target.host, ...headers }, timeout: 15_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, track: String(res.headers[HEADER_TRACK] ?? "") }));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, track: "" }));
  });
}

export async function startLoad(options: LoadOptions): Promise<RunningLoad> {
  const { kc, log } = options;
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const random = new Random(options.seed ?? Date.now());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const maxDurationMs = options.maxDurationMs ?? 3_600_000;
  const maxRequests = options.maxRequests ?? 2_000_000;
  const totals: Record<string, Tally> = {};
  // Per target, per second: [stable, canary] pod answers, for recentCanaryShare.
  const seconds = new Map<string, Map<number, [number, number]>>();
  let targets: LoadTarget[] = [];
  let sent = 0;
  let inFlight = 0;
  const startedAt = Date.now();

  const refresh = async () => {
    const ns = options.namespace;
    const group = { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes" };
    const [routes, ingresses] = await Promise.all([
      (ns ? custom.listNamespacedCustomObject({ ...group, namespace: ns }) : custom.listClusterCustomObject(group)) as Promise<{
        items: RouteLike[];
      }>,
      ns ? networking.listNamespacedIngress({ namespace: ns }) : networking.listIngressForAllNamespaces(),
    ]);
    targets = loadTargets(routes.items, ingresses.items, options.gateway, options.ingressClass);
  };
  await refresh();

  const record = (target: LoadTarget, answer: { status: number; track: string }) => {
    const tally = totals[target.key] ?? emptyTally();
    totals[target.key] = tally;
    tally.requests += 1;
    if (answer.track === "") {
      tally.proxyErrors += 1;
      tally.proxyCodes[String(answer.status)] = (tally.proxyCodes[String(answer.status)] ?? 0) + 1;
      tally.lastProxyErrorAt = new Date().toISOString();
    } else {
      const arm = answer.track === "canary" ? tally.canary : tally.stable;
      arm.requests += 1;
      if (answer.status >= 500) arm.errors += 1;
      const second = Math.floor(Date.now() / 1000);
      const perSecond = seconds.get(target.key) ?? new Map<number, [number, number]>();
      seconds.set(target.key, perSecond);
      const bucket = perSecond.get(second) ?? [0, 0];
      bucket[answer.track === "canary" ? 1 : 0] += 1;
      if (!perSecond.has(second)) for (const s of perSecond.keys()) if (s < second - 600) perSecond.delete(s);
      perSecond.set(second, bucket);
    }
  };

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  let stopped = false;
  const tickMs = 100;
  let lastTick = Date.now();
  const tick = setInterval(() => {
    // A timer that fires late (a busy event loop) still sends the requests of the time that passed.
    const now = Date.now();
    const elapsedMs = Math.min(now - lastTick, 10 * tickMs);
    lastTick = now;
    if (Date.now() - startedAt > maxDurationMs || sent >= maxRequests) {
      log.info("load reached its bound and stops", { sent, seconds: Math.round((Date.now() - startedAt) / 1000) });
      void stop();
      return;
    }
    for (const target of targets) {
      const count = random.poisson((options.rps * elapsedMs) / 1000);
      for (let i = 0; i < count && inFlight < 512 && sent < maxRequests; i++) {
        sent += 1;
        inFlight += 1;
        void sendRequest(agent, options.webUrl, target, options.headers).then((answer) => {
          inFlight -= 1;
          if (!stopped) record(target, answer);
        });
      }
    }
  }, tickMs);
  const refreshTimer = refreshEvery(options.refreshMs ?? 1000, refresh, (err) =>
    log.warn("could not list HTTPRoutes/Ingresses; keeping the last targets", { error: String(err) }),
  );

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(tick);
    clearInterval(refreshTimer);
    agent.destroy();
    resolveDone();
  };
  log.info("load started", { webUrl: options.webUrl, rps: options.rps, targets: targets.length });
  return {
    totals: () => structuredClone(totals),
    recentCanaryShare(key, windowMs) {
      const from = Math.floor((Date.now() - windowMs) / 1000);
      let stable = 0;
      let canary = 0;
      for (const [second, [s, c]] of seconds.get(key) ?? []) {
        if (second < from) continue;
        stable += s;
        canary += c;
      }
      return stable + canary > 0 ? canary / (stable + canary) : undefined;
    },
    targets: () => targets,
    stop,
    done,
  };
}
