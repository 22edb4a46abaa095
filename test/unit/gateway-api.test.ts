// The Gateway API router on plain values: only the two weights of the managed rule change,
// acceptance is read per parent and generation, one rule serves one Rollout.
import { describe, expect, it } from "vitest";
import type { Rollout } from "../../src/api/types.js";
import type { JsonPatchOp } from "../../src/kube/client.js";
import {
  acceptance,
  canaryWeightOf,
  type HttpRoute,
  managedRules,
  previewRouteOf,
  ruleProblem,
  rulesWithPreview,
  withWeights,
} from "../../src/traffic/gateway-api/route.js";
import { GatewayApiRouter } from "../../src/traffic/gateway-api/router.js";
import { spec } from "./fixtures.js";

const accepted = (generation: number) => [
  {
    parentRef: { name: "gw", sectionName: "http" },
    controllerName: "traefik.io/gateway-controller",
    conditions: [
      { type: "Accepted", status: "True", reason: "Accepted", observedGeneration: generation },
      { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", observedGeneration: generation },
    ],
  },
];

function route(): HttpRoute {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "shop", namespace: "web", generation: 3, resourceVersion: "41" },
    spec: {
      parentRefs: [{ name: "gw" }],
      rules: [
        {
          name: "beta-testers",
          matches: [{ headers: [{ name: "x-beta", value: "1" }] }],
          filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-via", value: "beta" }] } }],
          backendRefs: [{ name: "checkout", port: 80 }],
        },
        {
          name: "main",
          timeouts: { request: "10s" },
          backendRefs: [
            { name: "checkout", port: 80, weight: 100 },
            { name: "checkout-canary", port: 80, weight: 0 },
            { name: "legacy", port: 80, weight: 5 },
          ],
        },
        { name: "static", backendRefs: [{ name: "assets", port: 80 }] },
      ],
    },
    status: { parents: accepted(3) },
  };
}

describe("HTTPRoute rules", () => {
  it("manages the named rule only; without a name, every rule that lists the stable Service", () => {
    expect(managedRules(route(), "checkout", "main")).toEqual([1]);
    expect(managedRules(route(), "checkout")).toEqual([0, 1]);
    expect(ruleProblem(route(), "checkout", "checkout-canary")).toMatchObject({ reason: "BackendRefsMissing" });
    expect(ruleProblem(route(), "checkout", "checkout-canary", "main")).toBeUndefined();
    expect(ruleProblem(route(), "checkout", "checkout-canary", "nope")).toMatchObject({ reason: "RuleNotFound" });
  });

  it("changes only the two weights: other rules, matches, filters, timeouts and backendRefs stay exactly", () => {
    const before = route();
    const after = withWeights(before, "checkout", "checkout-canary", 20, "main");
    expect(after.spec?.rules?.[1]?.backendRefs?.map((b) => b.weight)).toEqual([80, 20, 5]);
    const strip = (r: HttpRoute) => {
      const copy = structuredClone(r);
      for (const b of copy.spec?.rules?.[1]?.backendRefs ?? []) if (b.name.startsWith("checkout")) delete b.weight;
      return copy;
    };
    expect(JSON.stringify(strip(after))).toBe(JSON.stringify(strip(before)));
    expect(canaryWeightOf(after, "checkout", "checkout-canary", "main")).toBe(20);
  });

  it("is accepted only when every parent says Accepted and ResolvedRefs for the current generation", () => {
    expect(acceptance(route())).toEqual({ accepted: true });
    const stale = { ...route(), metadata: { ...route().metadata, generation: 4 } };
    expect(acceptance(stale)).toMatchObject({ accepted: false, reason: "RoutePending" });
    const refused = route();
    const cond = refused.status?.parents?.[0]?.conditions?.[0];
    if (cond) Object.assign(cond, { status: "False", reason: "NotAllowedByListeners", message: "no listener allows this route" });
    expect(acceptance(refused)).toMatchObject({ accepted: false, reason: "NotAllowedByListeners" });
    expect(acceptance({ ...route(), status: {} })).toMatchObject({ accepted: false, reason: "RouteNotAccepted" });
  });

  it("tells a parent catching up with a new generation (traffic still routed) from one that refused the route", () => {
    const bumped = (parents: NonNullable<HttpRoute["status"]>["parents"]): HttpRoute => ({
      ...route(),
      metadata: { ...route().metadata, generation: 4 },
      status: { parents },
    });
    expect(acceptance(bumped(accepted(3)))).toMatchObject({ accepted: false, reason: "RoutePending", acknowledging: true });
    const refusedBefore = accepted(3);
    Object.assign(refusedBefore[0]?.conditions[0] ?? {}, { status: "False", reason: "NotAllowedByListeners" });
    expect(acceptance(bumped(refusedBefore))).toMatchObject({ accepted: false, reason: "RoutePending", acknowledging: false });
    // One parent refuses the current generation while another has not caught up: the refusal is the answer.
    const refusedNow = accepted(4).map((p) => ({ ...p, parentRef: { name: "gw2" } }));
    Object.assign(refusedNow[0]?.conditions[0] ?? {}, { status: "False", reason: "NoMatchingParent", message: "no such listener" });
    expect(acceptance(bumped([...accepted(3), ...refusedNow]))).toMatchObject({
      accepted: false,
      reason: "NoMatchingParent",
      acknowledging: false,
    });
  });
});

describe("the Gateway API router", () => {
  const rollout = (name: string, created: string, rule = "main"): Rollout => ({
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name, namespace: "web", creationTimestamp: new Date(created) },
    spec: spec({ traffic: { gatewayAPI: { httpRoute: "shop", rule } } }),
  });
  /** A writer that stores the route as an API server would: the `test` guard checked, the
   * patch applied, the resourceVersion bumped. The cache (`get`) keeps the route it started with. */
  const setup = (r: HttpRoute | undefined, rollouts: Rollout[]) => {
    const patches: JsonPatchOp[][] = [];
    let stored = r && structuredClone(r);
    const router = new GatewayApiRouter(
      {
        patchHttpRoute: async (_ns, _name, ops) => {
          patches.push(ops);
          if (!stored) throw new Error("not found");
          const next = structuredClone(stored);
          for (const op of ops) {
            const path = op.path.split("/").slice(1);
            if (op.op === "test") {
              if (op.value !== next.metadata.resourceVersion) throw new Error("422: the test operation failed");
              continue;
            }
            let at: Record<string, unknown> = next as unknown as Record<string, unknown>;
            for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
            if (op.op === "remove") delete at[path[path.length - 1] ?? ""];
            else at[path[path.length - 1] ?? ""] = op.value;
          }
          next.metadata.resourceVersion = String(Number(next.metadata.resourceVersion) + 1);
          stored = next;
          return next;
        },
      },
      { get: () => r },
      { naming: () => rollouts },
    );
    return { router, patches, stored: () => stored };
  };

  it("reads the weight back and patches exactly the two weights, guarded by the resourceVersion", async () => {
    const checkout = rollout("checkout", "2026-01-01T00:00:00Z");
    const { router, patches } = setup(route(), [checkout]);
    expect(router.observe(checkout)).toMatchObject({ routable: true, accepted: true, weight: 0, reason: "HTTPRouteAccepted" });
    await router.setWeight(checkout, 10);
    expect(patches).toEqual([
      [
        { op: "test", path: "/metadata/resourceVersion", value: "41" },
        { op: "replace", path: "/spec/rules/1/backendRefs/0/weight", value: 90 },
        { op: "replace", path: "/spec/rules/1/backendRefs/1/weight", value: 10 },
      ],
    ]);
    // The route holds 90/10 now (the cache has not seen it yet): the same weight again writes nothing.
    await router.setWeight(checkout, 10);
    expect(patches).toHaveLength(1);
  });

  it("a second write in one decision starts from the first one, not from the cache that has not seen it", async () => {
    const checkout = rollout("checkout", "2026-01-01T00:00:00Z");
    const { router, patches, stored } = setup(route(), [checkout]);
    await router.setWeight(checkout, 10);
    await router.setHeaderRoute(checkout, { name: "pr-7", match: [{ header: "x-canary", value: "pr-7" }] });
    expect(patches.map((p) => p[0])).toEqual([
      { op: "test", path: "/metadata/resourceVersion", value: "41" },
      { op: "test", path: "/metadata/resourceVersion", value: "42" },
    ]);
    // Both writes are in the stored route: the weights and the preview rule.
    expect(canaryWeightOf(stored() as HttpRoute, "checkout", "checkout-canary", "main")).toBe(10);
    expect(previewRouteOf(stored() as HttpRoute, "checkout-canary")).toBe("pr-7");
  });

  it("holds with the route's own reason while a parent has not accepted it", () => {
    const pending = { ...route(), status: { parents: [] } };
    const checkout = rollout("checkout", "2026-01-01T00:00:00Z");
    expect(setup(pending, [checkout]).router.observe(checkout)).toMatchObject({
      routable: true,
      accepted: false,
      weight: undefined,
      reason: "RouteNotAccepted",
    });
  });

  it("a second Rollout on the same rule is refused and writes nothing; a missing route says what to create", async () => {
    const first = rollout("checkout", "2026-01-01T00:00:00Z");
    const second = rollout("other", "2026-01-02T00:00:00Z");
    const { router, patches } = setup(route(), [first, second]);
    expect(router.observe(second)).toMatchObject({ routable: false, reason: "HTTPRouteClaimed" });
    await router.setWeight(second, 50);
    expect(patches).toEqual([]);
    expect(setup(undefined, [first]).router.observe(first)).toMatchObject({ routable: false, reason: "HTTPRouteNotFound" });
  });
});

describe("the header preview route", () => {
  const preview = { name: "pr-42", match: [{ header: "x-canary", value: "pr-42" }] };

  it("adds one rule beside the managed one (its matches narrowed by the header, only the canary behind it), and removing it restores the route exactly", () => {
    const before = route();
    const rules = rulesWithPreview(before, "checkout", "checkout-canary", preview, "main");
    expect(rules.map((r) => r.name)).toEqual(["beta-testers", "fledge-pr-42", "main", "static"]);
    expect(rules[1]).toMatchObject({
      matches: [{ headers: [{ type: "Exact", name: "x-canary", value: "pr-42" }] }],
      timeouts: { request: "10s" },
      backendRefs: [{ name: "checkout-canary", port: 80, weight: 1 }],
    });
    const withPreview: HttpRoute = { ...before, spec: { ...before.spec, rules } };
    expect(previewRouteOf(withPreview, "checkout-canary")).toBe("pr-42");
    // The preview rule does not count as a managed rule: the weights stay on "main".
    expect(managedRules(withPreview, "checkout", "main")).toEqual([2]);
    expect(rulesWithPreview(withPreview, "checkout", "checkout-canary", undefined, "main")).toEqual(before.spec?.rules);
  });
});
