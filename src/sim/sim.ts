// `fledge sim --pretend`: the stand-in for the proxy and the application pods, for a local
// cluster without its real data plane (no network namespace could be made there; with one,
// src/sim/load.ts sends real requests through Traefik instead). It reads the real Ingress
// objects (and the canary weight) and
// Deployments, sends synthetic requests split by the weight, lets each revision behave as its
// pod template declares (FLEDGE_SIM_ERROR_RATE, FLEDGE_SIM_LATENCY_MS), and exports
// ingress-nginx-style counters for the real Prometheus to scrape.
import * as k8s from "@kubernetes/client-node";
import { Counter, Histogram, Registry } from "prom-client";
import { addScrapeTarget, removeScrapeTarget } from "../devcluster/prometheus.js";
import { startHttpServer } from "../observability/http-server.js";
import type { Logger } from "../observability/logger.js";
import { Random } from "../simulated-app/random.js";
import { refreshEvery } from "./refresh.js";
import { buildRoutes, type Route, serveRequests } from "./traffic-model.js";

export interface SimOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  /** Requests per second per Ingress. */
  rps: number;
  port: number;
  namespace?: string;
  /** When set, the sim lists itself as a scrape target there (file-based discovery). */
  prometheusTargetsDir?: string;
  seed?: number;
  tickMs?: number;
  refreshMs?: number;
}

export interface ArmTotals {
  requests: number;
  errors: number;
}

export interface RunningSim {
  port: number;
  /** Totals per "namespace/service" since the sim started. */
  totals(): Record<string, ArmTotals>;
  routes(): Route[];
  stop(): Promise<void>;
}

export async function startSim(options: SimOptions): Promise<RunningSim> {
  const { kc, log } = options;
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const random = new Random(options.seed ?? Date.now());
  const registry = new Registry();
  const labelNames = ["namespace", "ingress", "service", "status", "canary", "method", "host", "path"] as const;
  const requests = new Counter({
    name: "nginx_ingress_controller_requests",
    help: "The total number of client requests (simulated by fledge sim, with ingress-nginx's labels).",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "nginx_ingress_controller_request_duration_seconds",
    help: "The request processing time in seconds (simulated by fledge sim).",
    labelNames: ["namespace", "ingress", "service", "status", "canary"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const totals: Record<string, ArmTotals> = {};
  let routes: Route[] = [];

  const refresh = async () => {
    const ns = options.namespace;
    const [ingresses, deployments, services] = await Promise.all([
      ns ? networking.listNamespacedIngress({ namespace: ns }) : networking.listIngressForAllNamespaces(),
      ns ? apps.listNamespacedDeployment({ namespace: ns }) : apps.listDeploymentForAllNamespaces(),
      ns ? core.listNamespacedService({ namespace: ns }) : core.listServiceForAllNamespaces(),
    ]);
    routes = buildRoutes(ingresses.items, services.items, deployments.items);
  };
  await refresh();

  const tickMs = options.tickMs ?? 100;
  const tick = () => {
    for (const route of routes) {
      for (const r of serveRequests(route, random.poisson((options.rps * tickMs) / 1000), random)) {
        const labels = { namespace: r.namespace, ingress: r.ingress, service: r.service, status: r.status, canary: r.canary };
        requests.inc({ ...labels, method: "GET", host: r.host, path: r.path });
        duration.observe(labels, r.latencySeconds);
        const key = `${r.namespace}/${r.service}`;
        const t = totals[key] ?? { requests: 0, errors: 0 };
        totals[key] = t;
        t.requests += 1;
        if (r.status.startsWith("5")) t.errors += 1;
      }
    }
  };
  const tickTimer = setInterval(tick, tickMs);
  const refreshTimer = refreshEvery(options.refreshMs ?? 500, refresh, (err) =>
    log.warn("could not read Ingresses/Deployments; keeping the last routes", { error: String(err) }),
  );

  const http = await startHttpServer({ port: options.port, registry, ready: () => true });
  const targetName = `fledge-sim-${http.port}`;
  if (options.prometheusTargetsDir)
    await addScrapeTarget(options.prometheusTargetsDir, targetName, `127.0.0.1:${http.port}`, { source: "fledge-sim" });
  log.info("sim started", { port: http.port, rps: options.rps, routes: routes.length });

  return {
    port: http.port,
    totals: () => structuredClone(totals),
    routes: () => routes,
    async stop() {
      clearInterval(tickTimer);
      clearInterval(refreshTimer);
      if (options.prometheusTargetsDir) await removeScrapeTarget(options.prometheusTargetsDir, targetName);
      await http.close();
    },
  };
}
