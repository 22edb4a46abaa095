import type { V1Ingress } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/api/duration.js";
import { templateRevision } from "../../src/api/revision.js";
import type { Rollout } from "../../src/api/types.js";
import { parseUserAction } from "../../src/controller/user-actions.js";
import { deploymentFor, serviceFor } from "../../src/kube/objects.js";
import { canaryIngressFor } from "../../src/traffic/nginx/objects.js";
import { spec } from "./fixtures.js";

const ro: Rollout = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "checkout", namespace: "shop", uid: "u1" },
  spec: spec(),
};
const userIngress: V1Ingress = {
  metadata: { name: "shop", namespace: "shop", annotations: { "nginx.ingress.kubernetes.io/rewrite-target": "/" } },
  spec: {
    tls: [{ hosts: ["shop.example.com"], secretName: "tls" }],
    rules: [
      {
        host: "shop.example.com",
        http: {
          paths: [
            { path: "/checkout", pathType: "Prefix", backend: { service: { name: "checkout", port: { number: 80 } } } },
            { path: "/cart", pathType: "Prefix", backend: { service: { name: "cart", port: { number: 80 } } } },
          ],
        },
      },
    ],
  },
};

describe("managed objects", () => {
  it("the canary Ingress sends the stable Service's paths to the canary Service, with the weight, and leaves the user's Ingress alone", () => {
    const before = JSON.stringify(userIngress);
    const canary = canaryIngressFor(ro, userIngress, 30);
    expect(JSON.stringify(userIngress)).toBe(before);
    expect(canary.metadata?.name).toBe("shop-canary");
    expect(canary.metadata?.annotations).toMatchObject({
      "nginx.ingress.kubernetes.io/canary": "true",
      "nginx.ingress.kubernetes.io/canary-weight": "30",
      "nginx.ingress.kubernetes.io/rewrite-target": "/",
    });
    const paths = canary.spec?.rules?.[0]?.http?.paths ?? [];
    expect(paths.map((p) => p.backend.service?.name)).toEqual(["checkout-canary", "cart"]);
    expect(canary.spec?.tls).toBeUndefined();
    expect(canary.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "Rollout", name: "checkout", uid: "u1", controller: true });
  });

  it("Deployments select by rollout and track; pods also carry the revision", () => {
    const d = deploymentFor(ro, "canary", ro.spec.template ?? {}, "abc", 2);
    expect(d.metadata?.name).toBe("checkout-canary");
    expect(d.spec?.selector.matchLabels).toEqual({ "fledge.dev/rollout": "checkout", "fledge.dev/track": "canary" });
    expect(d.spec?.template.metadata?.labels).toMatchObject({
      app: "checkout",
      "fledge.dev/revision": "abc",
      "fledge.dev/track": "canary",
    });
    expect(serviceFor(ro, "stable").spec?.selector).toEqual({ "fledge.dev/rollout": "checkout", "fledge.dev/track": "stable" });
  });

  it("a revision depends on the template's content, not on key order", () => {
    expect(templateRevision({ a: 1, b: { c: 2, d: 3 } })).toBe(templateRevision({ b: { d: 3, c: 2 }, a: 1 }));
    expect(templateRevision({ a: 1 })).not.toBe(templateRevision({ a: 2 }));
  });
});

describe("parsing", () => {
  it("durations", () => {
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(() => parseDuration("soon")).toThrow(/not a duration/);
  });

  it("user actions", () => {
    expect(parseUserAction("promote")).toEqual({ kind: "promote", value: "promote" });
    expect(parseUserAction("promote-full/kx2")).toEqual({ kind: "promote-full", value: "promote-full/kx2" });
    expect(parseUserAction("dance")).toEqual({ invalid: "dance" });
    expect(parseUserAction(undefined)).toBeUndefined();
  });
});

describe("the NGINX header preview route", () => {
  it("rides on the canary Ingress as canary-by-header annotations and reads back the same", async () => {
    const { canaryIngressFor: build, headerRouteOf } = await import("../../src/traffic/nginx/objects.js");
    const user: V1Ingress = {
      metadata: { name: "shop" },
      spec: {
        rules: [
          {
            host: "a",
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "checkout", port: { number: 80 } } } }] },
          },
        ],
      },
    };
    const r = { apiVersion: "fledge.dev/v1alpha1", kind: "Rollout", metadata: { name: "checkout", uid: "u" }, spec: spec() } as Rollout;
    const exact = build(r, user, 0, { name: "pr", match: [{ header: "x-canary", value: "1" }] });
    expect(exact.metadata?.annotations).toMatchObject({
      "nginx.ingress.kubernetes.io/canary-by-header": "x-canary",
      "nginx.ingress.kubernetes.io/canary-by-header-value": "1",
      "fledge.dev/header-route": "pr",
    });
    expect(headerRouteOf(exact)).toEqual({ name: "pr", match: [{ header: "x-canary", value: "1" }] });
    const regex = build(r, user, 0, { name: "pr", match: [{ header: "x-user", value: "^qa-.*", type: "RegularExpression" }] });
    expect(regex.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-by-header-pattern"]).toBe("^qa-.*");
    expect(headerRouteOf(build(r, user, 10))).toBeUndefined();
  });
});

describe("the NGINX router's writes", () => {
  it("a second write in one decision starts from the first (a rollback's weight 0 is not undone by removing the preview route)", async () => {
    const { NginxIngressRouter } = await import("../../src/traffic/nginx/router.js");
    const rollout: Rollout = { ...ro, spec: { ...ro.spec, traffic: { nginx: { ingress: "shop" } } } };
    const user: V1Ingress = {
      ...userIngress,
      spec: {
        rules: [{ http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "checkout", port: { number: 80 } } } }] } }],
      },
    };
    const preview = { name: "pr-7", match: [{ header: "x-preview", value: "pr-7" }] };
    // The cache: the canary copy at weight 20 with the preview route, as it was before the decision.
    const cached = {
      ...canaryIngressFor(rollout, user, 20, preview),
      metadata: { ...canaryIngressFor(rollout, user, 20, preview).metadata, resourceVersion: "5" },
    };
    const cache = new Map([
      ["shop/shop", user],
      ["shop/shop-canary", cached],
    ]);
    const stored: V1Ingress[] = [];
    const kube = {
      apply: async (o: V1Ingress) => {
        stored.push(o);
        return { ...o, metadata: { ...o.metadata, resourceVersion: String(5 + stored.length) } };
      },
      create: async (o: V1Ingress) => o,
    };
    const router = new NginxIngressRouter(
      kube as never,
      { get: (name: string, ns?: string) => cache.get(`${ns}/${name}`) },
      { naming: () => [rollout] },
    );
    await router.setWeight(rollout, 0);
    await router.setHeaderRoute(rollout, undefined);
    const last = stored.at(-1);
    expect(last?.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-weight"]).toBe("0");
    expect(last?.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-by-header"]).toBeUndefined();
  });
});
