// Helpers for the tests that run on the real data plane (Traefik in the sealed network
// namespace, src/dataplane/): the Gateway to attach routes to, direct requests through the
// proxy that count which track answered, the load generator, and Traefik-flavoured policies.
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import type { DataPlane } from "../../src/devcluster/cluster.js";
import { createLogger } from "../../src/observability/logger.js";
import { type RunningLoad, sendRequest, startLoad } from "../../src/sim/load.js";
import { localCluster } from "./harness.js";

export type TraefikPlane = Extract<DataPlane, { kind: "traefik" }>;

/** The local cluster's Traefik. These tests exist to prove the real proxy: without one they fail, never skip. */
export function traefik(): TraefikPlane {
  const plane = localCluster().dataPlane;
  if (plane.kind !== "traefik")
    throw new Error(
      `the local cluster has no real data plane (${plane.why}); these tests need a sealed network namespace (root, or unprivileged user namespaces)`,
    );
  return plane;
}

export const parentRef = () => ({
  name: traefik().gateway.name,
  namespace: traefik().gateway.namespace,
  sectionName: traefik().gateway.listener,
});

export interface Share {
  stable: number;
  canary: number;
  /** Answered by the proxy itself (no pod) or not at all. */
  proxy: number;
  /** 5xx answered by a pod. */
  errors: number;
}

/** Sends `count` requests through Traefik (a few at a time) and counts who answered. */
export async function measure(host: string, count: number, headers: Record<string, string> = {}, path = "/"): Promise<Share> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const share: Share = { stable: 0, canary: 0, proxy: 0, errors: 0 };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      const answer = await sendRequest(agent, traefik().webUrl, { host, path }, headers);
      if (answer.track === "canary") share.canary += 1;
      else if (answer.track === "") share.proxy += 1;
      else share.stable += 1;
      if (answer.track !== "" && answer.status >= 500) share.errors += 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();
  return share;
}

/** Steady clients for every route in the namespace (what the analysis judges). */
export function startNamespaceLoad(kc: k8s.KubeConfig, namespace: string, rps = 50): Promise<RunningLoad> {
  const plane = traefik();
  return startLoad({
    kc,
    log: createLogger("warn", "load"),
    webUrl: plane.webUrl,
    gateway: plane.gateway,
    ingressClass: plane.ingressClass,
    rps,
    namespace,
    seed: 7,
    maxDurationMs: 10 * 60_000,
    refreshMs: 500,
  });
}

export function httpRoutes(kc: k8s.KubeConfig, namespace: string) {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const group = { group: "gateway.networking.k8s.io", version: "v1", namespace, plural: "httproutes" };
  return {
    get: async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...group, name })) as {
        metadata: { generation: number; labels?: Record<string, string> };
        spec: { rules: Array<{ name?: string; backendRefs: Array<{ name: string; weight?: number }>; [k: string]: unknown }> };
        status?: { parents?: Array<{ conditions?: Array<{ type: string; status: string; reason?: string }> }> };
      },
    patch: (name: string, body: object) =>
      custom.patchNamespacedCustomObject({ ...group, name, body }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)),
  };
}
