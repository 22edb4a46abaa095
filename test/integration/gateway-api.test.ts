// The Gateway API router against the real API server with a route whose parent Gateway does
// not exist, so no controller ever reports on it (Traefik, the local cluster's Gateway
// controller, serves only its own Gateway): what is shown here is what needs no proxy — the
// weights written and nothing else of the user's route touched, and a Rollout that holds,
// saying why, instead of claiming traffic. The same on real Traefik: data-plane.test.ts.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apply, condition, type OperatorProcess, rolloutClient, startOperatorProcess, testApp } from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("Gateway API HTTPRoute (a parent no controller serves)", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const getRoute = async () =>
    (await custom.getNamespacedCustomObject({
      group: "gateway.networking.k8s.io",
      version: "v1",
      namespace: ns,
      plural: "httproutes",
      name: "shop",
    })) as {
      metadata: { generation: number };
      spec: { rules: Array<{ name?: string; backendRefs: Array<{ name: string; weight?: number }> }> };
    };

  beforeAll(async () => {
    ns = await createNamespace(kc, "gwapi");
    operator = await startOperatorProcess("gwapi", [`--watch-namespaces=${ns}`]);
  });
  afterAll(async () => {
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("sets only the two weights of the managed rule, and holds with the route's reason while no parent accepts it", async () => {
    const route = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "shop" },
      spec: {
        parentRefs: [{ name: "gateway", sectionName: "http" }],
        hostnames: ["shop.example.com"],
        rules: [
          {
            name: "beta",
            matches: [{ headers: [{ name: "x-beta", value: "1" }] }],
            filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-via", value: "beta" }] } }],
            backendRefs: [{ name: "beta-svc", port: 80 }],
          },
          {
            name: "main",
            backendRefs: [
              { name: "checkout", port: 80, weight: 1 },
              { name: "checkout-canary", port: 80, weight: 1 },
              { name: "legacy", port: 80, weight: 3 },
            ],
          },
        ],
      },
    };
    await apply(ns, route);
    const before = await getRoute();
    const app = testApp("checkout", { image: "example.invalid/checkout:1", errorRate: 0, policy: null });
    app.rollout.spec.traffic = { gatewayAPI: { httpRoute: "shop", rule: "main" } } as never;
    await apply(ns, app.rollout);
    const ro = rolloutClient(kc, ns);
    const after = await eventually("the weights set to 100/0", async () => {
      const r = await getRoute();
      const refs = r.spec.rules[1]?.backendRefs ?? [];
      return refs[0]?.weight === 100 && refs[1]?.weight === 0 ? r : undefined;
    });
    expect(after.spec.rules[0]).toEqual(before.spec.rules[0]);
    expect(after.spec.rules[1]?.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      ["checkout", 100],
      ["checkout-canary", 0],
      ["legacy", 3],
    ]);
    const r = await ro.waitFor("checkout", "held for the route", (x) => condition(x, "TrafficRouted")?.reason === "RouteNotAccepted");
    expect(condition(r, "TrafficRouted")?.message).toMatch(/no Gateway has accepted HTTPRoute shop yet/);
    await ro.waitFor(
      "checkout",
      "not Healthy",
      (x) => x.status?.phase === "Degraded" && condition(x, "Ready")?.reason === "TrafficNotRouted",
    );
  });
});
