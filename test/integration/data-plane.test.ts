// Both Fledge routers on a real proxy: Traefik (its Kubernetes Gateway and Ingress-NGINX
// providers) in the sealed network namespace, with the real API server and the real Prometheus
// scraping Traefik's own counters. Every share below is counted from real answers: each pod
// names its track in a header (src/dataplane/pods.ts).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { DataPlaneReady } from "../../src/dataplane/config.js";
import { escapeRoutes } from "../../src/dataplane/sealed-network.js";
import { TRAEFIK_QUERIES } from "../../src/dataplane/traefik.js";
import type { RunningLoad } from "../../src/sim/load.js";
import { ANNOTATION_ERROR_MULTIPLIER } from "../../src/simulated-app/behaviour.js";
import { httpRoutes, measure, parentRef, startNamespaceLoad, traefik } from "./data-plane-harness.js";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startOperatorProcess,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const policy = (queries: { requests: string; errors: string }) =>
  testPolicy("traefik", {
    interval: "1s",
    errorRate: {
      ...queries,
      judge: { threshold: { maxErrorRate: 0.02, failureLimit: 0 } },
      minRequests: 10,
      maxSampleRatioZ: 4,
      noTraffic: { timeout: "30s", action: "Abort" },
    },
  });

const template = (image: string, errorRate: number, extra: Record<string, unknown> = {}) => ({
  metadata: { labels: { app: "shop" } },
  spec: { containers: [{ name: "app", image, env: [{ name: "FLEDGE_SIM_ERROR_RATE", value: String(errorRate) }], ...extra }] },
});

/** An Ingress of Traefik's NGINX class sending `host` to the Service `name`. */
const ingressOf = (name: string, host: string) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: { name },
  spec: {
    ingressClassName: traefik().ingressClass,
    rules: [{ host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { number: 80 } } } }] } }],
  },
});

const stepsWithPauses = [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }, { pause: {} }];

function gatewayRollout(name: string, route: string, steps: object[], rule?: string) {
  return {
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name },
    spec: {
      replicas: 2,
      template: template("example.invalid/shop:1", 0),
      service: { port: 80, targetPort: 8080 },
      traffic: { gatewayAPI: { httpRoute: route, ...(rule ? { rule } : {}) } },
      analysis: { policy: "traefik" },
      strategy: { canary: { steps } },
      progressDeadlineSeconds: 180,
    },
  };
}

/** Within this many points of the weight: Traefik's weighted round robin is exact over whole
 * cycles, the clients' own requests interleave with ours. */
const SHARE_TOLERANCE = 3;

/** Waits until `count` requests in a row are all answered by pods of `track` (Traefik applies a
 * route change a moment after it is written). */
async function untilAnsweredBy(
  track: "stable" | "canary",
  host: string,
  count: number,
  what: string,
  headers: Record<string, string> = {},
) {
  await eventually(what, async () => ((await measure(host, count, headers))[track] === count ? true : undefined), 30_000, 200);
}

/** Traefik applies a new weight a moment after it reports the route accepted: wait for it, then
 * count again on a fresh sample, which must hold the weight too. */
async function expectCanaryShare(host: string, weight: number): Promise<void> {
  const near = (s: { canary: number }, n: number) => Math.abs((s.canary / n) * 100 - weight) <= SHARE_TOLERANCE;
  await eventually(
    `Traefik sending ${weight} % to the canary`,
    async () => (near(await measure(host, 200), 200) ? true : undefined),
    30_000,
    0,
  );
  const share = await measure(host, 400);
  expect(share.proxy).toBe(0);
  expect(near(share, 400), JSON.stringify(share)).toBe(true);
}

describe("the real data plane: Traefik in a sealed network namespace", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let load: RunningLoad;
  const ro = () => rolloutClient(kc, ns);
  const routes = () => httpRoutes(kc, ns);

  beforeAll(async () => {
    traefik();
    ns = await createNamespace(kc, "dataplane");
    await apply(ns, policy(TRAEFIK_QUERIES.gatewayAPI), { ...policy(TRAEFIK_QUERIES.nginx), metadata: { name: "traefik-nginx" } });
    operator = await startOperatorProcess("dataplane", [`--watch-namespaces=${ns}`]);
    load = await startNamespaceLoad(kc, ns, 100);
  });
  // Each test's routes and Rollouts go when it ends: the clients only load the route under test.
  afterEach(async () => {
    await kubectl(["delete", "-n", ns, "rollouts,httproutes,ingresses", "--all", "--wait=false"]);
  });
  afterAll(async () => {
    await load?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("has no route out of its network namespace", () => {
    const ready = JSON.parse(readFileSync(traefik().readyFile, "utf8")) as DataPlaneReady;
    const ip = (...args: string[]) =>
      JSON.parse(execFileSync("nsenter", ["-t", String(ready.insidePid), "-n", "ip", "-j", ...args], { encoding: "utf8" }));
    const routesIn = [...ip("-4", "route", "show", "table", "all"), ...ip("-6", "route", "show", "table", "all")];
    const links = ip("link", "show");
    expect(links.map((l: { ifname: string }) => l.ifname)).toEqual(["lo"]);
    expect(routesIn.length).toBeGreaterThan(0);
    expect(escapeRoutes(routesIn, links)).toEqual([]);
    // The pod range is local there and only there.
    expect(routesIn.some((r: { dst?: string; type?: string }) => r.dst === "10.244.0.0/16" && r.type === "local")).toBe(true);
    // And the judge is not blind: the host's own namespace, which has a way out, is reported.
    const host = JSON.parse(execFileSync("ip", ["-j", "-4", "route", "show", "table", "all"], { encoding: "utf8" }));
    const hostLinks = JSON.parse(execFileSync("ip", ["-j", "link", "show"], { encoding: "utf8" }));
    expect(escapeRoutes(host, hostLinks).length).toBeGreaterThan(0);
  });

  it("Gateway API: the proxy's canary share follows 10 → 50 → promoted, a bad canary is rolled back, and nothing else of the route changes", async () => {
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "shop" },
      spec: {
        parentRefs: [parentRef()],
        hostnames: ["shop.fledge.test"],
        rules: [
          {
            name: "beta",
            matches: [{ headers: [{ name: "x-beta", value: "1" }] }],
            filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-via", value: "beta" }] } }],
            backendRefs: [{ name: "shop", port: 80 }],
          },
          {
            name: "main",
            backendRefs: [
              { name: "shop", port: 80, weight: 100 },
              { name: "shop-canary", port: 80, weight: 0 },
              { name: "shop-legacy", port: 80, weight: 0 },
            ],
          },
          {
            name: "static",
            matches: [{ path: { type: "PathPrefix", value: "/static" } }],
            timeouts: { request: "5s" },
            backendRefs: [{ name: "shop", port: 80 }],
          },
        ],
      },
    };
    const legacy = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "shop-legacy" },
      spec: { selector: { app: "legacy" }, ports: [{ port: 80, targetPort: 8080 }] },
    };
    await apply(ns, legacy, route, gatewayRollout("shop", "shop", stepsWithPauses, "main"));
    await ro().waitFor("shop", "v1 promoted", isPromoted);
    const before = await routes().get("shop");
    const untouched = (r: typeof before) =>
      JSON.stringify([r.spec.rules[0], r.spec.rules[2], r.spec.rules[1]?.backendRefs[2], r.metadata.labels]);
    const v1 = await eventually("v1 answering through Traefik", async () => {
      const s = await measure("shop.fledge.test", 50);
      return s.stable === 50 ? s : undefined;
    });
    expect(v1.canary).toBe(0);
    // Before v1 served, Traefik answered for Services that did not exist yet; count from here.
    const key = `${ns}/HTTPRoute/shop`;
    const failedBefore = load.totals()[key]?.proxyErrors ?? 0;

    await ro().patchSpec("shop", { template: template("example.invalid/shop:2", 0) } as never);
    for (const [step, weight] of [
      [1, 10],
      [3, 50],
    ] as const) {
      await ro().waitFor("shop", `paused at weight ${weight}`, (r) => r.status?.phase === "Paused" && r.status.currentStep === step);
      await expectCanaryShare("shop.fledge.test", weight);
      await ro().action("shop", "promote");
    }
    await ro().waitFor("shop", "v2 promoted", isPromoted, 120_000);
    const promoted = await routes().get("shop");
    expect(promoted.spec.rules[1]?.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      ["shop", 100],
      ["shop-canary", 0],
      ["shop-legacy", 0],
    ]);
    expect(untouched(promoted)).toBe(untouched(before));
    await untilAnsweredBy("stable", "shop.fledge.test", 100, "Traefik sending everything to stable");

    // A bad canary: half its answers are 500s. Rolled back by the analysis of Traefik's counters.
    await ro().patchSpec("shop", { template: template("example.invalid/shop:3", 0.5) } as never);
    const stableRevision = (await ro().get("shop")).status?.stableRevision;
    const rolledBack = await ro().waitFor("shop", "v3 rolled back", (r) => r.status?.phase === "Degraded", 120_000);
    expect(rolledBack.status?.stableRevision).toBe(stableRevision);
    // The Event is recorded just after the status that says Degraded.
    await eventually("the RolledBack Event", async () => ((await ro().events("shop")).includes("RolledBack") ? true : undefined));
    const after = await eventually("the route back at 100/0", async () => {
      const r = await routes().get("shop");
      return r.spec.rules[1]?.backendRefs[1]?.weight === 0 ? r : undefined;
    });
    expect(after.spec.rules[1]?.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      ["shop", 100],
      ["shop-canary", 0],
      ["shop-legacy", 0],
    ]);
    expect(untouched(after)).toBe(untouched(before));
    await untilAnsweredBy("stable", "shop.fledge.test", 100, "Traefik sending everything to stable again");
    // Through both weight changes to 0 the canary kept its pods until Traefik had caught up:
    // not one client request found a pod gone (Traefik answers 502 for those).
    const clients = load.totals()[key];
    expect(clients?.requests).toBeGreaterThan(1000);
    expect((clients?.proxyErrors ?? 0) - failedBefore, JSON.stringify(clients)).toBe(0);
  });
  const simpleRoute = (name: string, extraRules: object[] = []) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name },
    spec: {
      parentRefs: [parentRef()],
      hostnames: [`${name}.fledge.test`],
      rules: [
        ...extraRules,
        {
          name: "main",
          backendRefs: [
            { name, port: 80, weight: 100 },
            { name: `${name}-canary`, port: 80, weight: 0 },
          ],
        },
      ],
    },
  });
  const quickSteps = [{ setWeight: 50 }, { pause: { duration: "2s" } }];

  it("a route its Gateway does not accept holds the canary with the route's own reason; fixing it lets the canary go on", async () => {
    await apply(ns, simpleRoute("held"), gatewayRollout("held", "held", quickSteps));
    await ro().waitFor("held", "v1 promoted", isPromoted);
    // The route now names a listener the Gateway does not have.
    await routes().patch("held", { spec: { parentRefs: [{ ...parentRef(), sectionName: "no-such-listener" }] } });
    await eventually("Traefik to refuse the route", async () => {
      const r = await routes().get("held");
      const accepted = r.status?.parents?.[0]?.conditions?.find((c) => c.type === "Accepted");
      return accepted?.status === "False" ? accepted : undefined;
    });
    await ro().patchSpec("held", { template: template("example.invalid/shop:2", 0) } as never);
    const held = await ro().waitFor(
      "held",
      "held for the route",
      (r) => condition(r, "TrafficRouted")?.status === "False" && r.status?.canaryRevision !== undefined,
    );
    const refused = (await routes().get("held")).status?.parents?.[0]?.conditions?.find((c) => c.type === "Accepted");
    expect(condition(held, "TrafficRouted")?.reason).toBe(refused?.reason);
    expect(held.status?.canaryWeight ?? 0).toBe(0);
    expect((await routes().get("held")).spec.rules[0]?.backendRefs[1]?.weight).toBe(0);
    await routes().patch("held", { spec: { parentRefs: [parentRef()] } });
    await ro().waitFor("held", "v2 promoted once the route is accepted", isPromoted, 120_000);
  });

  it("header preview: with weight 0 only requests with the header reach the canary, across an operator SIGKILL; gone after promotion", async () => {
    const steps = [
      { setHeaderRoute: { name: "pr-7", match: [{ header: "x-preview", value: "pr-7" }] } },
      { pause: {} },
      { setWeight: 50 },
      { pause: { duration: "2s" } },
    ];
    await apply(ns, simpleRoute("preview"), gatewayRollout("preview", "preview", steps));
    await ro().waitFor("preview", "v1 promoted", isPromoted);
    const original = (await routes().get("preview")).spec.rules;
    await ro().patchSpec("preview", { template: template("example.invalid/shop:2", 0) } as never);
    await ro().waitFor("preview", "paused with the preview route", (r) => r.status?.phase === "Paused" && r.status.currentStep === 1);
    const header = { "x-preview": "pr-7" };
    await untilAnsweredBy("canary", "preview.fledge.test", 20, "the header routed to the canary by Traefik", header);
    expect(await measure("preview.fledge.test", 200, header)).toMatchObject({ canary: 200, stable: 0, proxy: 0 });
    expect(await measure("preview.fledge.test", 200)).toMatchObject({ canary: 0, stable: 200, proxy: 0 });

    await operator.kill("SIGKILL");
    operator = await startOperatorProcess("dataplane-restarted", [`--watch-namespaces=${ns}`]);
    // The new operator keeps the preview route (it is in status and in the route) and still holds.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const kept = await ro().get("preview");
    expect(kept.status?.phase).toBe("Paused");
    expect(kept.status?.headerRoute?.name).toBe("pr-7");
    expect((await routes().get("preview")).spec.rules.map((r) => r.name)).toEqual(["fledge-pr-7", "main"]);
    expect(await measure("preview.fledge.test", 100, header)).toMatchObject({ canary: 100, stable: 0 });

    await ro().action("preview", "promote");
    await ro().waitFor("preview", "v2 promoted", isPromoted, 120_000);
    const after = await routes().get("preview");
    expect(after.spec.rules).toEqual(original);
    await untilAnsweredBy("stable", "preview.fledge.test", 50, "the header no longer special to Traefik", header);
  });

  it("a pretend incident: the namespace's error multiplier raises every pod's errors there, and its removal ends it", async () => {
    const host = "incident.fledge.test";
    await apply(
      ns,
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "incident" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "incident" } },
          template: { ...template("example.invalid/incident:1", 0.1), metadata: { labels: { app: "incident" } } },
        },
      },
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "incident" },
        spec: { selector: { app: "incident" }, ports: [{ port: 80, targetPort: 8080 }] },
      },
      ingressOf("incident", host),
    );
    const multiplier = (value: string | null) =>
      kc
        .makeApiClient(k8s.CoreV1Api)
        .patchNamespace(
          { name: ns, body: { metadata: { annotations: { [ANNOTATION_ERROR_MULTIPLIER]: value } } } },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
    try {
      await untilAnsweredBy("stable", host, 20, "the Deployment's pod answering through Traefik");
      const calm = await measure(host, 300);
      expect(calm.errors).toBeGreaterThan(5);
      expect(calm.errors).toBeLessThan(90);
      // 10 % × 10: every answer an error while it lasts.
      await multiplier("10");
      await eventually("every answer a 500", async () => ((await measure(host, 50)).errors === 50 ? true : undefined), 30_000, 200);
      await multiplier(null);
      await eventually(
        "errors back to the template's 10 %",
        async () => ((await measure(host, 200)).errors < 60 ? true : undefined),
        30_000,
        200,
      );
    } finally {
      await multiplier(null);
      await kubectl(["delete", "-n", ns, "deployment/incident", "service/incident", "--wait=false"]);
    }
  });

  it("NGINX-annotated Ingress on Traefik: the same lifecycle, the proxy honouring the preview header (across a SIGKILL) and the weight", async () => {
    const ingress = ingressOf("cart", "cart.fledge.test");
    const preview = { setHeaderRoute: { name: "pr-7", match: [{ header: "x-preview", value: "pr-7" }] } };
    const rollout = gatewayRollout("cart", "unused", [
      preview,
      { pause: {} },
      { setWeight: 20 },
      { pause: {} },
      { setWeight: 50 },
      { pause: {} },
    ]);
    rollout.spec.traffic = { nginx: { ingress: "cart" } } as never;
    rollout.spec.analysis = { policy: "traefik-nginx" };
    await apply(ns, ingress, rollout);
    await ro().waitFor("cart", "v1 promoted", isPromoted);
    await untilAnsweredBy("stable", "cart.fledge.test", 50, "v1 answering through Traefik");
    await ro().patchSpec("cart", { template: template("example.invalid/cart:2", 0) } as never);
    // The preview: ingress-nginx's canary-by-header annotations on the canary Ingress, honoured by Traefik.
    const paused = await ro().waitFor(
      "cart",
      "paused with the preview route",
      (r) => r.status?.phase === "Paused" && r.status.currentStep === 1,
    );
    expect(paused.status?.headerRoute?.name).toBe("pr-7");
    const annotations = async () =>
      (await kc.makeApiClient(k8s.NetworkingV1Api).readNamespacedIngress({ name: "cart-canary", namespace: ns })).metadata?.annotations ??
      {};
    expect(await annotations()).toMatchObject({
      "nginx.ingress.kubernetes.io/canary-by-header": "x-preview",
      "nginx.ingress.kubernetes.io/canary-by-header-value": "pr-7",
      "nginx.ingress.kubernetes.io/canary-weight": "0",
    });
    expect((await fledge("status", "cart", "-n", ns)).stdout).toMatch(/preview route pr-7: requests with x-preview: pr-7 go to the canary/);
    const header = { "x-preview": "pr-7" };
    await untilAnsweredBy("canary", "cart.fledge.test", 20, "the header routed to the canary by Traefik", header);
    expect(await measure("cart.fledge.test", 100)).toMatchObject({ canary: 0, stable: 100 });
    await operator.kill("SIGKILL");
    operator = await startOperatorProcess("dataplane-nginx-restarted", [`--watch-namespaces=${ns}`]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await annotations())["nginx.ingress.kubernetes.io/canary-by-header"]).toBe("x-preview");
    expect(await measure("cart.fledge.test", 100, header)).toMatchObject({ canary: 100, stable: 0 });
    await ro().action("cart", "promote");
    for (const [step, weight] of [
      [3, 20],
      [5, 50],
    ] as const) {
      await ro().waitFor("cart", `paused at weight ${weight}`, (r) => r.status?.phase === "Paused" && r.status.currentStep === step);
      await expectCanaryShare("cart.fledge.test", weight);
      await ro().action("cart", "promote");
    }
    const promoted = await ro().waitFor("cart", "v2 promoted", isPromoted, 120_000);
    expect(promoted.status?.headerRoute).toBeUndefined();
    await eventually("the preview annotations gone", async () =>
      (await annotations())["nginx.ingress.kubernetes.io/canary-by-header"] === undefined ? true : undefined,
    );
    await ro().patchSpec("cart", { template: template("example.invalid/cart:3", 0.5) } as never);
    // Past its preview pause, the bad canary gets weight 20 and is judged there.
    await ro().waitFor("cart", "v3 at its preview pause", (r) => r.status?.phase === "Paused" && r.status.currentStep === 1);
    await ro().action("cart", "promote");
    const rolledBack = await ro().waitFor("cart", "v3 rolled back", (r) => r.status?.phase === "Degraded", 120_000);
    expect(condition(rolledBack, "Ready")?.reason).toBe("AnalysisFailed");
    expect(await ro().weight("cart")).toBe(0);
    await untilAnsweredBy("stable", "cart.fledge.test", 100, "Traefik sending everything to stable");
  });

  it("a weight the proxy does not honour (a rule that catches the traffic first) is caught by the sample-ratio check: no promotion", async () => {
    // GET / matches this rule first (a method match outranks none), so the managed rule's
    // weights are accepted but never used: the canary gets no request at weight 10.
    const catchAll = {
      name: "gets",
      matches: [{ path: { type: "PathPrefix", value: "/" }, method: "GET" }],
      backendRefs: [{ name: "ratio", port: 80 }],
    };
    await apply(
      ns,
      simpleRoute("ratio", [catchAll]),
      gatewayRollout("ratio", "ratio", [{ setWeight: 10 }, { pause: { duration: "60s" } }], "main"),
    );
    const v1 = await ro().waitFor("ratio", "v1 promoted", isPromoted);
    await ro().patchSpec("ratio", { template: template("example.invalid/shop:2", 0) } as never);
    const stopped = await ro().waitFor("ratio", "stopped by the sample-ratio check", (r) => r.status?.phase === "Degraded", 120_000);
    expect(condition(stopped, "Ready")?.reason).toBe("SampleRatioMismatch");
    expect(condition(stopped, "Ready")?.message).toMatch(/standard deviations below its weight/);
    expect(stopped.status?.stableRevision).toBe(v1.status?.stableRevision);
    expect((await routes().get("ratio")).spec.rules[1]?.backendRefs.map((b) => b.weight)).toEqual([100, 0]);
  });
  it("a canary whose Service has no ready endpoints (its port was renamed) gets no traffic: held, and no client sees a 503", async () => {
    const withPort = (image: string, portName: string) => template(image, 0, { ports: [{ name: portName, containerPort: 8080 }] });
    const rollout = gatewayRollout("ports", "ports", quickSteps);
    rollout.spec.template = withPort("example.invalid/shop:1", "http");
    rollout.spec.service = { port: 80, targetPort: "http" } as never;
    await apply(ns, simpleRoute("ports"), rollout);
    await ro().waitFor("ports", "v1 promoted", isPromoted);
    await untilAnsweredBy("stable", "ports.fledge.test", 20, "v1 answering through Traefik");
    const key = `${ns}/HTTPRoute/ports`;
    const failedBefore = load.totals()[key]?.proxyErrors ?? 0;
    // v2 names its port "web": the canary Service's targetPort "http" matches nothing.
    await ro().patchSpec("ports", { template: withPort("example.invalid/shop:2", "web") } as never);
    const held = await ro().waitFor("ports", "held for the endpoints", (r) => condition(r, "Ready")?.reason === "CanaryHasNoEndpoints");
    expect(held.status?.message).toMatch(/Service ports-canary has no ready endpoints/);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await routes().get("ports")).spec.rules[0]?.backendRefs.map((b) => b.weight)).toEqual([100, 0]);
    expect((load.totals()[key]?.proxyErrors ?? 0) - failedBefore).toBe(0);
    // The fix is a new template: the canary restarts with it and goes on.
    await ro().patchSpec("ports", { template: withPort("example.invalid/shop:3", "http") } as never);
    await ro().waitFor("ports", "v3 promoted", isPromoted, 120_000);
    expect((load.totals()[key]?.proxyErrors ?? 0) - failedBefore).toBe(0);
  });
});
