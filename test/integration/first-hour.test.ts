// The first hour of a user moving over from Argo Rollouts or Flagger (issue 11), on the real
// local cluster: each behaviour they hit, shown end to end with the operator, the sim and the CLI.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import { NGINX_COUNTER_QUERIES } from "../../src/traffic/nginx/queries.js";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const image = (tag: string) => `example.invalid/app:${tag}`;
const template = (name: string, tag: string, errorRate: number) => testApp(name, { image: image(tag), errorRate }).rollout.spec.template;

describe("the first hour: routing, actions, names, scale", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let ro: ReturnType<typeof rolloutClient>;
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);

  beforeAll(async () => {
    ns = await createNamespace(kc, "firsthour");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("firsthour", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("a deleted Ingress makes the Rollout Degraded (not Healthy), fledge wait --for healthy does not pass, and it recovers", async () => {
    const app = testApp("lost", { image: image("1"), errorRate: 0 });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("lost", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await networking.deleteNamespacedIngress({ name: "lost", namespace: ns });
    const r = await ro.waitFor("lost", "not Healthy", (x) => x.status?.phase !== "Healthy");
    expect(r.status?.phase).toBe("Degraded");
    expect(condition(r, "Ready")).toMatchObject({ status: "False", reason: "TrafficNotRouted" });
    expect(condition(r, "TrafficRouted")).toMatchObject({ status: "False", reason: "IngressNotFound" });
    const wait = await fledge("wait", "lost", "--for", "healthy", "--timeout", "3s", "-n", ns);
    expect(wait.code).toBe(3);
    expect(wait.stderr).toMatch(/phase Degraded/);
    await apply(ns, app.ingress);
    expect((await fledge("wait", "lost", "--for", "healthy", "--timeout", "30s", "-n", ns)).code).toBe(0);
  });

  it("a second Rollout naming the same Ingress is refused, names the owner, and never writes the route", async () => {
    const owner = testApp("shop", { image: image("1"), errorRate: 0 });
    await apply(ns, owner.ingress, owner.rollout);
    await ro.waitFor("shop", "Ready", (x) => condition(x, "Ready")?.status === "True");
    const before = await networking.readNamespacedIngress({ name: "shop-canary", namespace: ns });
    const intruder = testApp("shop2", { image: image("1"), errorRate: 0 });
    intruder.rollout.spec.traffic = { nginx: { ingress: "shop" } };
    await apply(ns, intruder.rollout);
    const r = await ro.waitFor(
      "shop2",
      "refused, its stable deployed",
      (x) => condition(x, "TrafficRouted")?.reason === "IngressClaimed" && x.status?.phase === "Degraded",
    );
    expect(condition(r, "TrafficRouted")?.message).toMatch(/already routed by Rollout shop\b/);
    expect(r.status?.phase).toBe("Degraded");
    // Start a canary on the intruder too: it must still not touch the owner's route.
    await ro.patchSpec("shop2", { template: template("shop2", "2", 0) });
    await ro.waitFor("shop2", "the new template seen", (x) => (x.status?.observedGeneration ?? 0) >= 2);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await networking.readNamespacedIngress({ name: "shop-canary", namespace: ns });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(after.metadata?.labels?.["fledge.dev/rollout"]).toBe("shop");
    expect((await ro.get("shop2")).status?.canaryWeight ?? 0).toBe(0);
  });

  it("the canary copy follows a change of the user's Ingress at once, and the condition says what it checked", async () => {
    const app = testApp("web", { image: image("1"), errorRate: 0 });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("web", "Ready", (x) => condition(x, "Ready")?.status === "True");
    const changed = structuredClone(app.ingress);
    const rule = changed.spec.rules[0];
    if (rule) rule.host = "web-new.example.com";
    await apply(ns, changed);
    const copy = await eventually(
      "the canary Ingress to take the new host",
      async () => {
        const c = await networking.readNamespacedIngress({ name: "web-canary", namespace: ns });
        return c.spec?.rules?.[0]?.host === "web-new.example.com" ? c : undefined;
      },
      15_000,
    );
    expect(copy.spec?.rules?.[0]?.http?.paths?.[0]?.backend.service?.name).toBe("web-canary");
    // The condition names the generation of the Ingress it compared the copy with.
    await ro.waitFor(
      "web",
      "TrafficRouted true for the edited Ingress",
      (x) =>
        condition(x, "TrafficRouted")?.status === "True" &&
        /matches Ingress web \(generation 2\)/.test(condition(x, "TrafficRouted")?.message ?? ""),
      15_000,
    );
  });

  it("kubectl scale rollout sets the stable size; the scale subresource reports it", async () => {
    const scaled = await kubectl(["scale", "rollout", "web", "-n", ns, "--replicas=3"]);
    expect(scaled.code, scaled.stderr).toBe(0);
    await eventually("the stable Deployment at 3", async () =>
      (await ro.deployment("web-stable")).spec?.replicas === 3 ? true : undefined,
    );
    const scale = await eventually("status.replicas 3", async () => {
      const s = await kubectl(["get", "rollout", "web", "-n", ns, "--subresource=scale", "-o", "json"]);
      const parsed = JSON.parse(s.stdout) as { status?: { replicas?: number; selector?: string } };
      return parsed.status?.replicas === 3 ? parsed : undefined;
    });
    expect(scale.status?.selector).toBe("fledge.dev/rollout=web,fledge.dev/track=stable");
  });

  it("an HPA on an inline Rollout (its scale subresource) takes the stable side 2 → 6 mid-canary: the canary follows, without restarting", async () => {
    const app = testApp("scaled", { image: image("1"), errorRate: 0, policy: null, steps: [{ setWeight: 50 }, { pause: {} }] });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("scaled", "Ready", (x) => condition(x, "Ready")?.status === "True");
    const hpa = (replicas: number) => ({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: "scaled" },
      spec: {
        scaleTargetRef: { apiVersion: "fledge.dev/v1alpha1", kind: "Rollout", name: "scaled" },
        minReplicas: replicas,
        maxReplicas: replicas,
      },
    });
    await apply(ns, hpa(2));
    await ro.patchSpec("scaled", { template: template("scaled", "2", 0) });
    const paused = await ro.waitFor("scaled", "the canary at 50 %", (x) => x.status?.phase === "Paused" && x.status.canaryWeight === 50);
    expect((await ro.deployment("scaled-canary")).spec?.replicas).toBe(1);
    const sizes: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = (await ro.deployment("scaled-canary")).spec?.replicas ?? -1;
        if (sizes.at(-1) !== n) sizes.push(n);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await apply(ns, hpa(6));
    await eventually("the HPA writing 6 to the Rollout", async () => ((await ro.get("scaled")).spec.replicas === 6 ? true : undefined));
    await eventually("6 stable pods", async () => ((await ro.deployment("scaled-stable")).status?.readyReplicas === 6 ? true : undefined));
    await eventually("3 canary pods", async () => ((await ro.deployment("scaled-canary")).status?.readyReplicas === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000));
    sampling = false;
    await sampler;
    expect(sizes).toEqual([1, 3]);
    const now = await ro.get("scaled");
    expect(now.status?.canaryRevision).toBe(paused.status?.canaryRevision);
    expect(now.status?.stepStartedAt).toBe(paused.status?.stepStartedAt);
    expect(now.status?.phase).toBe("Paused");
    expect((await ro.events("scaled")).filter((e) => e === "CanaryStarted")).toHaveLength(1);
  });

  it("actions tell the truth: refused before writing when the operator would ignore them, else its answer", async () => {
    const retry = await fledge("retry", "web", "-n", ns);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/retry refused .*nothing to retry.*nothing was changed/);
    expect((await ro.get("web")).metadata.annotations?.["fledge.dev/action"]).toBeUndefined();
    // Global flags before the subcommand, as in kubectl.
    expect((await fledge("-n", ns, "status", "web")).code).toBe(0);

    await ro.patchSpec("web", { template: template("web", "2", 0), strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } } });
    await ro.waitFor("web", "paused", (x) => x.status?.phase === "Paused");
    const abort = await fledge("abort", "web", "-n", ns);
    expect(abort.code, abort.stderr).toBe(0);
    expect(abort.stdout).toMatch(/abort applied for Rollout .*\/web: revision \w+ rolled back/);
    const promote = await fledge("promote", "web", "-n", ns);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/fledge retry web.*fledge promote --full web/);
    // promote --full promotes an aborted canary, as Argo Rollouts users expect.
    const full = await fledge("promote", "web", "--full", "-n", ns);
    expect(full.code, full.stderr).toBe(0);
    const r = await ro.waitFor("web", "promoted", isPromoted);
    expect(r.status?.lastAction).toMatchObject({ kind: "promote-full", outcome: "Applied" });
  });

  it("an approver's name is recorded exactly, from the CLI as from kubectl", async () => {
    const name = "Zoë Ωmega 日本語";
    await ro.patchSpec("web", {
      template: template("web", "3", 0),
      strategy: { canary: { steps: [{ setWeight: 20 }, { approval: { timeout: "10m" } }, { setWeight: 40 }] } },
    });
    await ro.waitFor("web", "waiting for approval", (x) => condition(x, "ApprovalPending")?.status === "True");
    const res = await fledge("approve", "web", "--as", name, "-n", ns);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`by ${name}`);
    const r = await ro.waitFor("web", "approved", (x) => x.status?.approval?.decision === "Approved");
    expect(r.status?.approval?.decidedBy).toBe(name);
    // The Event is recorded right after the status write: wait for it rather than read once.
    await eventually("an Approved Event naming the approver", async () => {
      const events = await kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ns, fieldSelector: "regarding.name=web" });
      return events.items.some((e) => e.reason === "Approved" && e.note?.includes(`by ${name}`)) ? true : undefined;
    });
  });

  it("promotion never runs the stable Deployment below its size (new pods first)", async () => {
    await ro.waitFor("web", "promoted", isPromoted);
    await ro.patchSpec("web", { replicas: 4, strategy: { canary: { steps: [{ setWeight: 50 }] } } });
    await eventually("4 stable pods", async () => ((await ro.deployment("web-stable")).status?.availableReplicas === 4 ? true : undefined));
    let lowest = Number.POSITIVE_INFINITY;
    const watch = new k8s.Watch(kc);
    const req = await watch.watch(
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      { fieldSelector: "metadata.name=web-stable" },
      (_type, d: k8s.V1Deployment) => {
        lowest = Math.min(lowest, d.status?.availableReplicas ?? 0);
      },
      () => undefined,
    );
    try {
      await ro.patchSpec("web", { template: template("web", "4", 0) });
      await ro.waitFor("web", "promoted", isPromoted);
    } finally {
      req.abort();
    }
    expect(lowest).toBeGreaterThanOrEqual(4);
  });
});

describe("the first hour: analysis", () => {
  const kc = kubeConfig();
  let ns: string;
  let quiet: string;
  let operator: OperatorProcess;
  let sim: RunningSim;

  beforeAll(async () => {
    ns = await createNamespace(kc, "fh-analysis");
    quiet = await createNamespace(kc, "fh-quiet");
    operator = await startOperatorProcess("fh-analysis", [`--watch-namespaces=${ns},${quiet}`]);
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, quiet);
  });

  it("promote at pause: {} with no conclusive interval waits for one (and says so); the Paused Event comes once", async () => {
    const ro = rolloutClient(kc, quiet);
    await apply(
      quiet,
      testPolicy("error-rate", { errorRate: { ...testPolicy().spec.errorRate, noTraffic: { timeout: "8s", action: "Pause" } } }),
    );
    const app = testApp("idle", { image: image("1"), errorRate: 0, steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }] });
    await apply(quiet, app.ingress, app.rollout);
    await ro.waitFor("idle", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("idle", { template: template("idle", "2", 0) });
    const paused = await ro.waitFor("idle", "paused for no traffic", (x) => condition(x, "Paused")?.reason === "NoTraffic");
    expect(condition(paused, "Ready")?.reason).toBe("NoTraffic");
    const promote = await fledge("promote", "idle", "-n", quiet);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout).toMatch(/applied .*analysis pause ended/);
    // Resuming the analysis is not ending the step: a second promote is kept until a pass.
    await ro.waitFor("idle", "at the pause step", (x) => x.status?.currentStep === 1 && condition(x, "Paused")?.reason !== "NoTraffic");
    const second = await fledge("promote", "idle", "-n", quiet);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/accepted .*ends at the next passing analysis interval at weight 20 %/);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const held = await ro.get("idle");
    expect(held.status?.currentStep).toBe(1);
    expect(await ro.weight("idle")).toBe(20);
    const pausedEvents = (await ro.events("idle")).filter((r) => r === "AnalysisPaused");
    expect(pausedEvents.length).toBeLessThanOrEqual(2); // once per pause (it paused again after the resume), not per interval
  });

  it("a broken PromQL query is QueryInvalid at once; an unknown {{arg}} is refused before any canary starts", async () => {
    const ro = rolloutClient(kc, ns);
    await apply(
      ns,
      testPolicy("broken", { errorRate: { ...testPolicy().spec.errorRate, requests: "nginx_ingress_controller_requests{" } }),
    );
    await apply(
      ns,
      testPolicy("unknown-arg", {
        errorRate: { ...NGINX_COUNTER_QUERIES, requests: 'x{tenant="{{tenant}}"}', judge: { threshold: { maxErrorRate: 0.02 } } },
      }),
    );
    const broken = testApp("broken", { image: image("1"), errorRate: 0, policy: "broken" });
    const unknown = testApp("unknown", { image: image("1"), errorRate: 0, policy: "unknown-arg" });
    await apply(ns, broken.ingress, broken.rollout, unknown.ingress, unknown.rollout);
    const u = await ro.waitFor("unknown", "the policy refused", (x) => condition(x, "AnalysisHealthy")?.reason === "InvalidPolicy");
    expect(condition(u, "AnalysisHealthy")?.message).toMatch(/\{\{tenant\}\}/);
    await ro.waitFor("broken", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("broken", { template: template("broken", "2", 0) });
    await ro.patchSpec("unknown", { template: template("unknown", "2", 0) });
    const b = await ro.waitFor("broken", "rolled back", (x) => x.status?.phase === "Degraded");
    expect(condition(b, "Ready")?.reason).toBe("QueryInvalid");
    expect(condition(b, "AnalysisHealthy")?.message).toMatch(/bad_data/);
    const still = await ro.get("unknown");
    expect(still.status?.canaryWeight ?? 0).toBe(0);
    expect(still.status?.message).toMatch(/waiting for AnalysisPolicy/);
  });
});
