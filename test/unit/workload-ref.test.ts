// The pure parts of releasing an existing Deployment in place (spec.workloadRef): what the stable
// side is while the Deployment is paused, what the canary's pods carry, what Fledge applies to the
// Deployment, and the state machine's adoption, sizing and hand-back.
import type { V1Deployment } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { templateRevision } from "../../src/api/revision.js";
import type { RolloutSpec } from "../../src/api/types.js";
import { canaryReplicasAt, type Decision, decide } from "../../src/controller/state-machine.js";
import {
  adoptionApply,
  adoptionHolds,
  canaryTemplateOf,
  handBackApply,
  stableViewOf,
  wantsPaused,
} from "../../src/workload/referenced-deployment.js";
import { at, canaryRollout, deployment, observed, rollout } from "./fixtures.js";

const labels = { "app.kubernetes.io/name": "shop", "app.kubernetes.io/instance": "shop" };
const template = (image: string) => ({
  metadata: { labels: { ...labels, team: "payments" } },
  spec: { containers: [{ name: "app", image }] },
});

function userDeployment(opts: {
  image: string;
  paused?: boolean;
  generation?: number;
  observed?: number;
  updated?: number;
  available?: number;
}): V1Deployment {
  return {
    metadata: { name: "shop", namespace: "ns", generation: opts.generation ?? 2 },
    spec: { replicas: 4, paused: opts.paused, selector: { matchLabels: labels }, template: template(opts.image) },
    status: {
      observedGeneration: opts.observed ?? opts.generation ?? 2,
      replicas: 4,
      updatedReplicas: opts.updated ?? 4,
      availableReplicas: opts.available ?? 4,
    },
  };
}

const v1 = templateRevision(template("shop:1"));
const v2 = templateRevision(template("shop:2"));

describe("the referenced Deployment as the stable side", () => {
  it("paused with a new template, it still runs the revision it last rolled out", () => {
    const d = userDeployment({ image: "shop:2", paused: true, updated: 0 });
    expect(stableViewOf(d, v1, undefined)).toEqual({ revision: v1, replicas: 4, available: true });
    // Kept paused: a template change never rolls out by itself while Fledge manages it.
    expect(wantsPaused(d, "keep", v1)).toBe(true);
    // Promoting: unpaused until the template has rolled out.
    expect(wantsPaused(d, "desired", v1)).toBe(false);
  });

  it("a scale (an HPA's) neither unpauses it nor makes it unavailable, though it looks not rolled out for a moment", () => {
    const scaling = userDeployment({ image: "shop:1", paused: true, generation: 5, observed: 4, updated: 4, available: 4 });
    scaling.spec = { ...scaling.spec, replicas: 6 } as V1Deployment["spec"];
    expect(wantsPaused(scaling, "desired", v1)).toBe(true);
    expect(stableViewOf(scaling, v1, undefined)).toEqual({ revision: v1, replicas: 6, available: true });
  });

  it("unpaused (a promotion rolling out), it is its template, available once every pod runs it", () => {
    const rolling = userDeployment({ image: "shop:2", paused: false, generation: 3, observed: 3, updated: 2 });
    expect(stableViewOf(rolling, v1, v2)).toEqual({ revision: v2, replicas: 4, available: false });
    const done = userDeployment({ image: "shop:2", paused: false, generation: 3, observed: 3 });
    expect(stableViewOf(done, v1, v2)).toEqual({ revision: v2, replicas: 4, available: true });
    expect(wantsPaused(done, "desired", v1)).toBe(true);
    // Just unpaused: the controller has not seen the new generation, so it is not rolled out yet.
    expect(wantsPaused(userDeployment({ image: "shop:2", generation: 4, observed: 3 }), "desired", v1)).toBe(false);
    // A template changed again while the promotion rolls out is nobody's promotion: not stable.
    expect(stableViewOf(userDeployment({ image: "shop:3", paused: false }), v1, v2)).toEqual({
      revision: v1,
      replicas: 4,
      available: false,
    });
  });

  it("a template reverted to what the pods run is that revision again", () => {
    expect(stableViewOf(userDeployment({ image: "shop:1", paused: true }), v1, undefined).revision).toBe(v1);
  });
});

describe("the canary's pod template", () => {
  it("leaves out the labels of the Deployment's selector and of the user's Service", () => {
    const d = userDeployment({ image: "shop:2" });
    expect(canaryTemplateOf(d, undefined).metadata?.labels).toEqual({ team: "payments" });
    expect(canaryTemplateOf(d, { team: "payments" }).metadata?.labels).toEqual({});
    expect(canaryTemplateOf(d, undefined).spec?.containers[0]?.image).toBe("shop:2");
    // The user's object is not changed.
    expect(d.spec?.template.metadata?.labels?.["app.kubernetes.io/name"]).toBe("shop");
  });
});

describe("what Fledge applies to the Deployment", () => {
  it("owns only spec.paused and its annotation; handing back owns nothing (unpaused) or says why it stays paused", () => {
    expect(adoptionApply({ name: "shop", namespace: "ns" }, "shop", true)).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "shop", namespace: "ns", annotations: { "fledge.dev/rollout": "shop" } },
      spec: { paused: true },
    });
    expect(handBackApply({ name: "shop", namespace: "ns" }, undefined)).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "shop", namespace: "ns" },
    });
    expect(handBackApply({ name: "shop", namespace: "ns" }, "why").metadata.annotations).toEqual({ "fledge.dev/left-paused": "why" });
    const d = userDeployment({ image: "shop:1", paused: true });
    expect(adoptionHolds(d, "shop", true)).toBe(false); // no annotation yet
    d.metadata = { ...d.metadata, annotations: { "fledge.dev/rollout": "shop" } };
    expect(adoptionHolds(d, "shop", true)).toBe(true);
    expect(adoptionHolds(d, "shop", false)).toBe(false);
  });
});

describe("canary sizing (setCanaryScale)", () => {
  const steps: RolloutSpec["strategy"]["canary"]["steps"] = [
    { setCanaryScale: { replicas: 3 } },
    { setWeight: 10 },
    { setCanaryScale: { weight: 50 } },
    { setWeight: 20 },
    { setCanaryScale: { matchTrafficWeight: true } },
    { setWeight: 75 },
  ];
  it("a fixed count holds until the next setCanaryScale; a weight is a share of the current stable replicas; then the weight again", () => {
    expect(canaryReplicasAt(steps, 0, 0, 10)).toBe(3);
    expect(canaryReplicasAt(steps, 1, 0, 10)).toBe(3);
    expect(canaryReplicasAt(steps, 2, 10, 10)).toBe(5);
    expect(canaryReplicasAt(steps, 3, 10, 6)).toBe(3); // the stable side scaled (an HPA): the share follows
    expect(canaryReplicasAt(steps, 5, 20, 10)).toBe(8);
    expect(canaryReplicasAt([{ setWeight: 10 }], 0, 0, 4)).toBe(1);
  });

  it("the canary has the pods a setCanaryScale step asks for before that step ends and any weight is set", () => {
    const spec = { strategy: { canary: { steps: [{ setCanaryScale: { replicas: 3 } }, { setWeight: 10 }, { pause: {} }] } } };
    const view = canaryRollout({ currentStep: 0 }, spec);
    const waiting = decide(view, observed({ canary: deployment("rev2", 1) }), at(1));
    expect(waiting.actions).toContainEqual({ kind: "ensureCanary", template: "desired", replicas: 3 });
    expect(waiting.status.currentStep).toBe(0);
    expect(waiting.actions.some((a) => a.kind === "setWeight")).toBe(false);
    const scaled = decide(view, observed({ canary: deployment("rev2", 3) }), at(2));
    expect(scaled.status.currentStep).toBe(1);
    expect(scaled.actions.some((a) => a.kind === "setWeight" && a.weight > 0)).toBe(false);
  });
});

describe("the state machine with a workloadRef", () => {
  const ref = { workloadRef: { apiVersion: "apps/v1" as const, kind: "Deployment" as const, name: "shop" } };
  const kinds = (d: Decision) => d.actions.map((a) => a.kind);

  it("adopts: the finalizer first, then the Deployment recorded and kept as stable", () => {
    const d = decide(
      rollout({}, ref),
      observed({ stable: deployment("rev2", 4), workload: { name: "shop", found: true, templateRevision: "rev2" } }),
      at(0),
    );
    expect(kinds(d)[0]).toBe("addFinalizer");
    expect(d.actions).toContainEqual({ kind: "ensureStable", template: "desired", replicas: 4 });
    expect(d.status.workload).toEqual({ name: "shop" });
    expect(d.status.phase).toBe("Healthy");
  });

  it("a missing Deployment holds with a condition that names it, and touches nothing", () => {
    const d = decide(rollout({}, ref), observed({ stable: undefined, workload: { name: "shop", found: false } }), at(0));
    expect(d.status.conditions?.find((c) => c.type === "Ready")?.reason).toBe("WorkloadNotFound");
    expect(d.status.message).toMatch(/Deployment shop \(spec.workloadRef\) not found/);
    expect(kinds(d).filter((k) => k.startsWith("ensureStable") || k === "ensureCanary")).toEqual([]);
  });

  it("deleted mid-canary: weight 0 first, the canary drains, then the Deployment is handed back still paused and the finalizer goes", () => {
    const status = { workload: { name: "shop" }, canaryWeight: 20 };
    const view = { ...canaryRollout(status, ref), deleting: true };
    const obs = observed({
      canary: deployment("rev2", 1),
      canaryWeight: 20,
      workload: { name: "shop", found: true, templateRevision: "rev2" },
    });
    const first = decide(view, obs, at(0));
    expect(first.actions).toContainEqual({ kind: "setWeight", weight: 0 });
    expect(kinds(first)).not.toContain("handBack");
    expect(kinds(first)).not.toContain("removeFinalizer");
    const draining = decide({ ...view, status: first.status }, { ...obs, canaryWeight: 0 }, at(5));
    expect(kinds(draining)).not.toContain("handBack");
    const done = decide({ ...view, status: draining.status }, { ...obs, canaryWeight: 0 }, at(20));
    const handBack = done.actions.find((a) => a.kind === "handBack");
    expect(handBack).toMatchObject({ kind: "handBack", deployment: "shop" });
    expect(handBack && "leftPaused" in handBack && handBack.leftPaused).toMatch(/revision rev2\) was never promoted/);
    expect(kinds(done).indexOf("ensureCanary")).toBeLessThan(kinds(done).indexOf("handBack"));
    expect(kinds(done).at(-1)).toBe("removeFinalizer");
  });

  it("deleted while idle: handed back unpaused at once", () => {
    const view = { ...rollout({ workload: { name: "shop" }, stableRevision: "rev2", phase: "Healthy" }, ref), deleting: true };
    const d = decide(
      view,
      observed({ stable: deployment("rev2", 4), workload: { name: "shop", found: true, templateRevision: "rev2" } }),
      at(0),
    );
    expect(d.actions.find((a) => a.kind === "handBack")).toEqual({ kind: "handBack", deployment: "shop" });
    expect(kinds(d)).toContain("removeFinalizer");
  });

  it("workloadRef removed: the Deployment is handed back and the Rollout starts over from its new spec", () => {
    const view = rollout({ workload: { name: "shop" }, stableRevision: "rev1", phase: "Healthy" });
    const d = decide(view, observed({ stable: undefined, workload: { name: "shop", found: true, templateRevision: "rev1" } }), at(0));
    expect(d.actions.find((a) => a.kind === "handBack")).toEqual({ kind: "handBack", deployment: "shop" });
    expect(kinds(d)).not.toContain("removeFinalizer");
    expect(d.status.workload).toBeUndefined();
    expect(d.status.stableRevision).toBeUndefined();
  });
});

describe("fledge status", () => {
  it("names the referenced Deployment, its replicas, and a setCanaryScale step", async () => {
    const { renderStatus } = await import("../../src/cli/render-status.js");
    const text = renderStatus(
      {
        apiVersion: "fledge.dev/v1alpha1",
        kind: "Rollout",
        metadata: { name: "shop", namespace: "ns" },
        spec: {
          replicas: 1,
          workloadRef: { apiVersion: "apps/v1", kind: "Deployment", name: "shop" },
          service: { port: 80 },
          traffic: { gatewayAPI: { httpRoute: "shop" } },
          strategy: { canary: { steps: [{ setCanaryScale: { replicas: 3 } }, { setWeight: 10 }] } },
        },
        status: { phase: "Healthy", stableRevision: "abc", replicas: 6 },
      },
      [],
    );
    expect(text).toContain("stable  abc   Deployment shop (workloadRef, 6 replicas)");
    expect(text).toContain("1. setCanaryScale 3 pods");
  });
});
