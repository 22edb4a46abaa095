// The real data plane's pure parts: the sealed-namespace judge, Traefik's configuration and
// policies, what the pods answer, where the clients send requests, and the operator's rule that
// no traffic goes to a canary Service without ready endpoints.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { V1EndpointSlice, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderQuery } from "../../src/analysis/prometheus-reader.js";
import { readyEndpoints } from "../../src/controller/reconciler.js";
import { decide } from "../../src/controller/state-machine.js";
import { podBehaviourOf } from "../../src/dataplane/pods.js";
import { escapeRoutes } from "../../src/dataplane/sealed-network.js";
import { DURATION_BUCKETS, TRAEFIK_QUERIES, traefikStaticConfig } from "../../src/dataplane/traefik.js";
import { repoRoot } from "../../src/devcluster/versions.js";
import { loadTargets } from "../../src/sim/load.js";
import { ANNOTATION_ERROR_MULTIPLIER, errorMultiplierOf } from "../../src/simulated-app/behaviour.js";
import { at, canaryRollout, deployment, observed } from "./fixtures.js";

describe("the sealed network namespace", () => {
  const lo = [{ ifname: "lo" }];
  it("is sealed with only lo and local routes on it", () => {
    const routes = [
      { type: "local", dst: "10.244.0.0/16", dev: "lo", table: "local" },
      { type: "local", dst: "127.0.0.0/8", dev: "lo", table: "local" },
      { type: "local", dst: "::1", dev: "lo", table: "local" },
    ];
    expect(escapeRoutes(routes, lo)).toEqual([]);
  });
  it("reports any other interface, any route off lo and any gateway", () => {
    expect(escapeRoutes([], [...lo, { ifname: "eth0" }])).toEqual(["interface eth0 besides lo"]);
    expect(escapeRoutes([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }], lo)).toHaveLength(1);
    expect(escapeRoutes([{ dst: "default", gateway: "10.0.0.1", dev: "lo" }], lo)).toHaveLength(1);
    expect(escapeRoutes([{ dst: "fd00::/64", dev: "veth1" }], lo)).toHaveLength(1);
  });
});

describe("Traefik's configuration and the policies for it", () => {
  it("serves both providers, never calls home, and buckets latency finely", () => {
    const config = parse(traefikStaticConfig({ web: 80, metrics: 19100 }, "/tmp/errors.log"));
    expect(Object.keys(config.providers).sort()).toEqual(["kubernetesGateway", "kubernetesIngressNGINX"]);
    expect(config.global).toEqual({ checkNewVersion: false, sendAnonymousUsage: false });
    expect(config.entryPoints.web.address).toBe("127.0.0.1:80");
    expect(config.metrics.prometheus.buckets).toEqual(DURATION_BUCKETS);
    expect(config.accessLog.filters.statusCodes).toContain("500-599");
  });

  it.each([
    ["traefik-gateway-error-rate.yaml", TRAEFIK_QUERIES.gatewayAPI],
    ["traefik-nginx-error-rate.yaml", TRAEFIK_QUERIES.nginx],
  ])("policies/%s uses the queries the tests prove on Traefik", (file, queries) => {
    const policy = parse(readFileSync(path.join(repoRoot, "policies", file), "utf8"));
    expect(policy.spec.errorRate.requests).toBe(queries.requests);
    expect(policy.spec.errorRate.errors).toBe(queries.errors);
  });

  it("names each arm's series as Traefik does", () => {
    const arm = (service: string, trackSuffix: string) => ({
      namespace: "shop",
      rollout: "checkout",
      ingress: "checkout",
      stableService: "checkout",
      canaryService: "checkout-canary",
      service,
      trackSuffix,
    });
    expect(renderQuery(TRAEFIK_QUERIES.gatewayAPI.requests, arm("checkout-canary", "-canary"))).toContain(
      'service=~"shop-checkout-canary-http-[0-9]+@kubernetesgateway"',
    );
    // Traefik's Ingress-NGINX provider: both arms named after the main Ingress and the stable Service.
    expect(renderQuery(TRAEFIK_QUERIES.nginx.requests, arm("checkout", ""))).toContain(
      '"shop-checkout-checkout-[0-9]+@kubernetesingressnginx"',
    );
    expect(renderQuery(TRAEFIK_QUERIES.nginx.requests, arm("checkout-canary", "-canary"))).toContain(
      '"shop-checkout-checkout-[0-9]+-canary@kubernetesingressnginx"',
    );
  });
});

describe("what a pod answers and where the clients go", () => {
  it("a Running pod with an IP answers with its template's behaviour and its track", () => {
    const pod: V1Pod = {
      metadata: { namespace: "shop", name: "checkout-canary-abc", labels: { "fledge.dev/track": "canary", "fledge.dev/revision": "r2" } },
      spec: {
        containers: [
          {
            name: "app",
            env: [
              { name: "FLEDGE_SIM_ERROR_RATE", value: "0.05" },
              { name: "FLEDGE_SIM_LATENCY_MS", value: "80" },
            ],
          },
        ],
      },
      status: { phase: "Running", podIP: "10.244.0.7" },
    };
    expect(podBehaviourOf(pod)).toEqual({
      ip: "10.244.0.7",
      namespace: "shop",
      pod: "shop/checkout-canary-abc",
      track: "canary",
      revision: "r2",
      errorRate: 0.05,
      latencyMs: 80,
    });
    expect(podBehaviourOf({ ...pod, status: { phase: "Pending" } })).toBeUndefined();
  });

  it("reads a namespace's pretend-incident error multiplier, 1 unless it is a number ≥ 0", () => {
    expect(errorMultiplierOf(undefined)).toBe(1);
    expect(errorMultiplierOf({ [ANNOTATION_ERROR_MULTIPLIER]: "5" })).toBe(5);
    expect(errorMultiplierOf({ [ANNOTATION_ERROR_MULTIPLIER]: "0" })).toBe(0);
    expect(errorMultiplierOf({ [ANNOTATION_ERROR_MULTIPLIER]: "five" })).toBe(1);
    expect(errorMultiplierOf({ [ANNOTATION_ERROR_MULTIPLIER]: "-2" })).toBe(1);
  });

  it("targets every route on the Gateway and every NGINX-class Ingress that is not a canary", () => {
    const gateway = { namespace: "fledge-gateway", name: "fledge" };
    const routes = [
      {
        metadata: { namespace: "shop", name: "checkout" },
        spec: {
          parentRefs: [{ name: "fledge", namespace: "fledge-gateway" }],
          hostnames: ["checkout.example.com"],
          rules: [{ matches: [{ headers: [{ name: "x-beta" }] }] }, { matches: [{ path: { value: "/buy" } }] }],
        },
      },
      { metadata: { namespace: "shop", name: "elsewhere" }, spec: { parentRefs: [{ name: "other-gateway" }] } },
    ];
    const ingresses = [
      { metadata: { namespace: "shop", name: "cart" }, spec: { ingressClassName: "nginx", rules: [{ host: "cart.example.com" }] } },
      {
        metadata: { namespace: "shop", name: "cart-canary", annotations: { "nginx.ingress.kubernetes.io/canary": "true" } },
        spec: { ingressClassName: "nginx" },
      },
      { metadata: { namespace: "shop", name: "other-class" }, spec: { ingressClassName: "haproxy" } },
    ];
    expect(loadTargets(routes, ingresses, gateway, "nginx")).toEqual([
      { key: "shop/HTTPRoute/checkout", namespace: "shop", host: "checkout.example.com", path: "/buy" },
      { key: "shop/Ingress/cart", namespace: "shop", host: "cart.example.com", path: "/" },
    ]);
  });
});

describe("no traffic to a canary Service without ready endpoints", () => {
  const slice = (service: string, ready: Array<boolean | undefined>, ports = [{ name: "http", port: 8080 }]): V1EndpointSlice => ({
    addressType: "IPv4",
    metadata: { labels: { "kubernetes.io/service-name": service } },
    ports,
    endpoints: ready.map((r, i) => ({ addresses: [`10.244.0.${i + 1}`], conditions: r === undefined ? {} : { ready: r } })),
  });

  it("counts ready endpoints of one Service's port across its slices (unset ready counts as ready)", () => {
    const slices = [slice("checkout-canary", [true, false]), slice("checkout-canary", [undefined]), slice("checkout", [true])];
    expect(readyEndpoints(slices, "checkout-canary", "http")).toBe(2);
    expect(readyEndpoints([], "checkout-canary", "http")).toBe(0);
    // A named targetPort no container has: the pods are listed, in a slice without the port.
    expect(readyEndpoints([slice("checkout-canary", [true, true], [])], "checkout-canary", "http")).toBe(0);
  });

  it("holds the weight at 0 while the canary's pods are Available but its Service has no endpoints", () => {
    const view = canaryRollout({ currentStep: 0 });
    const held = decide(view, observed({ canary: deployment("rev2", 1), canaryWeight: 0, canaryEndpoints: 0 }), at(5));
    expect(held.actions.filter((a) => a.kind === "setWeight")).toEqual([]);
    expect(held.status.conditions?.find((c) => c.type === "Ready")?.reason).toBe("CanaryHasNoEndpoints");
    expect(held.status.message).toMatch(/no ready endpoints .*targetPort/);
    const goes = decide(view, observed({ canary: deployment("rev2", 1), canaryWeight: 0, canaryEndpoints: 1 }), at(6));
    expect(goes.actions).toContainEqual({ kind: "setWeight", weight: 10 });
    // Endpoints gone under a weight already set: the weight is taken back.
    const gone = decide(
      canaryRollout({ currentStep: 1 }),
      observed({ canary: deployment("rev2", 1), canaryWeight: 10, canaryEndpoints: 0 }),
      at(7),
    );
    expect(gone.actions).toContainEqual({ kind: "setWeight", weight: 0 });
  });
});
