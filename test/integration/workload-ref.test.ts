// A Deployment the user already has, released in place (spec.workloadRef), on the real data
// plane: Traefik in the sealed network namespace routes the user's HTTPRoute, every answer names
// the track of the pod that gave it (src/dataplane/pods.ts), and the clients count every failed
// request. The Deployment is changed the way a GitOps tool changes it: kubectl set image, and
// server-side apply of its manifest under another field manager.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TRAEFIK_QUERIES } from "../../src/dataplane/traefik.js";
import type { RunningLoad, Tally } from "../../src/sim/load.js";
import { httpRoutes, parentRef, startNamespaceLoad, traefik } from "./data-plane-harness.js";
import {
  apply,
  condition,
  isPromoted,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startOperatorProcess,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const APP = "shop";
const HOST = "shop.workload.example";
const labels = { "app.kubernetes.io/name": APP, "app.kubernetes.io/instance": APP };

/** The Deployment as a Helm chart renders it: the GitOps tool's manifest. */
const manifest = (image: string, replicas: number | undefined = 4) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: APP, labels: { ...labels, "helm.sh/chart": "shop-0.1.0" } },
  spec: {
    ...(replicas !== undefined ? { replicas } : {}),
    selector: { matchLabels: labels },
    template: {
      metadata: { labels: { ...labels, team: "payments" } },
      spec: { containers: [{ name: "app", image, ports: [{ name: "http", containerPort: 8080 }] }] },
    },
  },
});

const service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: APP, labels },
  spec: { selector: labels, ports: [{ name: "http", port: 80, targetPort: "http" }] },
};

const route = (withCanary: boolean) => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: APP },
  spec: {
    parentRefs: [parentRef()],
    hostnames: [HOST],
    rules: [
      {
        name: "main",
        backendRefs: [{ name: APP, port: 80, weight: 100 }, ...(withCanary ? [{ name: `${APP}-canary`, port: 80, weight: 0 }] : [])],
      },
    ],
  },
});

const rollout = (steps: object[]) => ({
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: APP },
  spec: {
    workloadRef: { apiVersion: "apps/v1", kind: "Deployment", name: APP },
    service: { port: 80, targetPort: "http" },
    traffic: { gatewayAPI: { httpRoute: APP, rule: "main" } },
    analysis: { policy: "traefik" },
    strategy: { canary: { steps, scaleDownDelaySeconds: 3 } },
    progressDeadlineSeconds: 180,
  },
});

const policy = testPolicy("traefik", {
  interval: "1s",
  errorRate: {
    ...TRAEFIK_QUERIES.gatewayAPI,
    judge: { threshold: { maxErrorRate: 0.05, failureLimit: 0 } },
    minRequests: 10,
    maxSampleRatioZ: 0,
    noTraffic: { timeout: "60s", action: "Abort" },
  },
});

/** Apply as Argo CD does: server-side, its own field manager, forcing its fields. */
async function gitOpsApply(namespace: string, object: object) {
  const res = await kubectl(
    ["apply", "--server-side", "--force-conflicts", "--field-manager=argocd-controller", "-n", namespace, "-f", "-"],
    JSON.stringify(object),
  );
  if (res.code !== 0) throw new Error(`server-side apply failed: ${res.stderr}`);
}

const failed = (t: Tally | undefined) => (t ? t.proxyErrors + t.stable.errors + t.canary.errors : 0);

describe("an existing Deployment released in place (workloadRef), on real Traefik", () => {
  const kc = kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const autoscaling = kc.makeApiClient(k8s.AutoscalingV2Api);
  let ns: string;
  let operator: OperatorProcess;
  let load: RunningLoad;
  const ro = () => rolloutClient(kc, ns);
  const deployment = () => apps.readNamespacedDeployment({ name: APP, namespace: ns });
  const canaryDeployment = async () => {
    try {
      return await apps.readNamespacedDeployment({ name: `${APP}-canary`, namespace: ns });
    } catch {
      return undefined;
    }
  };
  /** The images the Deployment's running pods have (not its template: a paused one differs). */
  const liveImages = async () => {
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: "app.kubernetes.io/name=shop" });
    return [...new Set(pods.items.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.spec?.containers[0]?.image))].sort();
  };
  const totals = () => load.totals()[`${ns}/HTTPRoute/${APP}`];
  const startOperator = (label: string) => startOperatorProcess(label, [`--watch-namespaces=${ns}`]);
  /** Samples the Deployment's ready pods until stopped: the fewest seen, and the most. */
  const watchReady = () => {
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    let stopped = false;
    const sampling = (async () => {
      while (!stopped) {
        const d = await deployment();
        min = Math.min(min, d.status?.readyReplicas ?? 0);
        max = Math.max(max, d.status?.replicas ?? 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return async () => {
      stopped = true;
      await sampling;
      return { min, max };
    };
  };

  beforeAll(async () => {
    traefik();
    ns = await createNamespace(kc, "workload");
    await apply(ns, policy);
    await gitOpsApply(ns, manifest("example.invalid/shop:1"));
    await apply(ns, service, route(false));
    load = await startNamespaceLoad(kc, ns, 100);
    operator = await startOperator("workload");
  });
  afterAll(async () => {
    await load?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("adopts a 4-replica Deployment under traffic: no failed request, never fewer than 4 ready pods, its pods untouched", async () => {
    // Steady traffic through the user's own route and Service first.
    await eventually("the Deployment serving through Traefik", async () => {
      const t = totals();
      return t && t.stable.requests > 200 && (await deployment()).status?.readyReplicas === 4 ? true : undefined;
    });
    const podsBefore = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app.kubernetes.io/name=shop" })).items
      .map((p) => p.metadata?.name)
      .sort();
    const before = totals();
    const stopWatching = watchReady();
    // SIGKILL during adoption: the next operator finishes it.
    await apply(ns, rollout([{ setWeight: 20 }, { pause: { duration: "3s" } }, { setWeight: 50 }, { pause: { duration: "3s" } }]));
    await eventually("the Deployment paused by the first operator", async () => ((await deployment()).spec?.paused ? true : undefined));
    await operator.kill("SIGKILL");
    operator = await startOperator("workload-after-kill");
    // The canary Service exists now: the route gets its (weight 0) backendRef, as the README says.
    await eventually("Service shop-canary", async () =>
      core.readNamespacedService({ name: `${APP}-canary`, namespace: ns }).catch(() => undefined),
    );
    await apply(ns, route(true));
    const healthy = await ro().waitFor(APP, "Healthy, Ready", (r) => isPromoted(r) && condition(r, "Ready")?.status === "True");
    // Traffic keeps flowing after adoption: 300 more requests, however slowly a busy machine sends them.
    const atHealthy = totals();
    const after = await eventually("300 requests served after adoption", async () => {
      const t = totals();
      return (t?.requests ?? 0) - (atHealthy?.requests ?? 0) >= 300 ? t : undefined;
    });
    const ready = await stopWatching();
    const duringAdoption = (atHealthy?.requests ?? 0) - (before?.requests ?? 0);
    const failures = failed(after) - failed(before);
    console.log(
      `adoption: ${duringAdoption} requests during it, ${(after?.requests ?? 0) - (before?.requests ?? 0)} in all, ${failures} failed; ready pods min ${ready.min}, pods max ${ready.max}`,
    );
    // Adoption takes a second or two (no new revision, so no steps): how many requests fall inside
    // it depends on the machine's pace; that some did, and none failed, is the point.
    expect(duringAdoption).toBeGreaterThan(0);
    expect(failures).toBe(0);
    expect(ready.min).toBeGreaterThanOrEqual(4);
    expect(ready.max).toBe(4);

    const d = await deployment();
    expect(d.spec?.paused).toBe(true);
    expect(healthy.spec.workloadRef?.name).toBe(APP);
    expect(healthy.status?.replicas).toBe(4);
    expect(healthy.status?.selector?.split(",").sort()).toEqual(["app.kubernetes.io/instance=shop", "app.kubernetes.io/name=shop"]);
    const podsAfter = (await core.listNamespacedPod({ namespace: ns, labelSelector: "app.kubernetes.io/name=shop" })).items
      .map((p) => p.metadata?.name)
      .sort();
    expect(podsAfter).toEqual(podsBefore);
    // Fledge owns exactly spec.paused and its annotation; the user's Service is untouched.
    const ours = d.metadata?.managedFields?.filter((m) => m.manager === "fledge-operator") ?? [];
    expect(ours.map((m) => Object.keys((m.fieldsV1 as Record<string, object>) ?? {}).sort())).toEqual([["f:metadata", "f:spec"]]);
    expect(JSON.stringify(ours[0]?.fieldsV1)).toBe(
      JSON.stringify({ "f:metadata": { "f:annotations": { "f:fledge.dev/rollout": {} } }, "f:spec": { "f:paused": {} } }),
    );
    const svc = await core.readNamespacedService({ name: APP, namespace: ns });
    expect(svc.metadata?.managedFields?.some((m) => m.manager === "fledge-operator")).toBe(false);
  });

  it("kubectl set image to a bad build: a canary runs and is rolled back; the Deployment's pods keep the old image", async () => {
    const res = await kubectl(["set", "image", "-n", ns, `deployment/${APP}`, "app=example.invalid/shop:2-err0.4"]);
    expect(res.code, res.stderr).toBe(0);
    await ro().waitFor(APP, "a canary of the new template", (r) => r.status?.canaryRevision !== undefined);
    const canary = await eventually("the canary's pods", canaryDeployment);
    // The canary's pods leave out the labels the user's selectors use.
    expect(canary.spec?.template.metadata?.labels?.["app.kubernetes.io/name"]).toBeUndefined();
    expect(canary.spec?.template.metadata?.labels?.team).toBe("payments");
    const r = await ro().waitFor(APP, "rolled back", (x) => x.status?.phase === "Degraded" && x.status.rolledBackRevision !== undefined);
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    await eventually("the canary scaled to 0", async () => ((await canaryDeployment())?.spec?.replicas === 0 ? true : undefined));
    const d = await deployment();
    expect(d.spec?.paused).toBe(true);
    expect(d.spec?.template.spec?.containers[0]?.image).toBe("example.invalid/shop:2-err0.4"); // the user's, as they wrote it
    expect(await liveImages()).toEqual(["example.invalid/shop:1"]);
    expect(d.status?.readyReplicas).toBe(4);
  });

  it("a server-side apply of the original manifest after the rollback changes nothing the pods run and starts nothing", async () => {
    const generation = (await ro().get(APP)).metadata.generation;
    await gitOpsApply(ns, manifest("example.invalid/shop:1"));
    const r = await ro().waitFor(
      APP,
      "Healthy on the stable revision again",
      (x) => isPromoted(x) && x.status?.canaryRevision === undefined,
    );
    expect(r.metadata.generation).toBe(generation);
    expect(r.status?.rolledBackRevision).toBeUndefined();
    expect(await liveImages()).toEqual(["example.invalid/shop:1"]);
    expect((await deployment()).spec?.paused).toBe(true);
    expect((await ro().events(APP)).filter((e) => e === "CanaryStarted")).toHaveLength(1);
  });

  it("a good build is promoted (SIGKILL while promoting): the Deployment runs it, paused again; re-applying the manifest changes nothing", async () => {
    const res = await kubectl(["set", "image", "-n", ns, `deployment/${APP}`, "app=example.invalid/shop:3"]);
    expect(res.code, res.stderr).toBe(0);
    await ro().waitFor(APP, "promoting", (x) => x.status?.phase === "Promoting", 180_000);
    await operator.kill("SIGKILL");
    operator = await startOperator("workload-promoting");
    const r = await ro().waitFor(APP, "promoted", (x) => isPromoted(x) && condition(x, "Ready")?.status === "True", 180_000);
    expect(await ro().eventsWith(APP, "Promoted")).toContain("Promoted");
    await eventually("only the new image running", async () =>
      (await liveImages()).join() === "example.invalid/shop:3" ? true : undefined,
    );
    await eventually("the Deployment paused again", async () => ((await deployment()).spec?.paused ? true : undefined));
    await eventually("the canary scaled to 0", async () => ((await canaryDeployment())?.spec?.replicas === 0 ? true : undefined));
    const d = await deployment();
    expect(d.status?.readyReplicas).toBe(4);
    // The GitOps tool re-applies what it holds (the new image): no field changes (only who owns the
    // image moves back from kubectl-set), nothing starts.
    const generation = d.metadata?.generation;
    await gitOpsApply(ns, manifest("example.invalid/shop:3"));
    const reapplied = await deployment();
    expect(reapplied.metadata?.generation).toBe(generation);
    expect(reapplied.spec?.paused).toBe(true);
    await new Promise((res) => setTimeout(res, 2000));
    const again = await ro().get(APP);
    expect(again.status?.canaryRevision).toBeUndefined();
    expect(again.status?.stableRevision).toBe(r.status?.stableRevision);
  });

  it("an HPA scales the stable side 2 → 6 mid-canary: the canary follows its weight's share, without restarting", async () => {
    await ro().patchSpec(APP, { strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }], scaleDownDelaySeconds: 3 } } });
    const hpa = (min: number) => ({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: { name: APP },
      spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: APP }, minReplicas: min, maxReplicas: min },
    });
    // A scale is not a release: the Deployment stays paused through it (an unpaused moment would
    // let the next template change roll out unjudged).
    let unpausedSeen = false;
    let watchingPause = true;
    const pauseWatch = (async () => {
      while (watchingPause) {
        if ((await deployment()).spec?.paused !== true) unpausedSeen = true;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await apply(ns, hpa(2));
    await eventually("the HPA at 2", async () => ((await deployment()).status?.readyReplicas === 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1000));
    watchingPause = false;
    await pauseWatch;
    expect(unpausedSeen).toBe(false);
    expect((await ro().get(APP)).status?.phase).toBe("Healthy");
    await kubectl(["set", "image", "-n", ns, `deployment/${APP}`, "app=example.invalid/shop:4"]);
    const paused = await ro().waitFor(
      APP,
      "the canary at 50 % (pause)",
      (x) => x.status?.currentStep === 1 && x.status.canaryWeight === 50,
    );
    expect((await canaryDeployment())?.spec?.replicas).toBe(1);
    // Every canary size it takes from here on, sampled.
    const sizes: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = (await canaryDeployment())?.spec?.replicas ?? -1;
        if (sizes.at(-1) !== n) sizes.push(n);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await autoscaling.patchNamespacedHorizontalPodAutoscaler(
      { name: APP, namespace: ns, body: { spec: { minReplicas: 6, maxReplicas: 6 } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await eventually("6 stable pods", async () => ((await deployment()).status?.readyReplicas === 6 ? true : undefined));
    await eventually("3 canary pods", async () => ((await canaryDeployment())?.status?.availableReplicas === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 3000)); // and it stays there
    sampling = false;
    await sampler;
    console.log(`HPA 2 → 6: canary sizes ${sizes.join(" → ")}; stable ${(await deployment()).status?.readyReplicas}`);
    expect(sizes).toEqual([1, 3]);
    const now = await ro().get(APP);
    expect(now.status?.canaryRevision).toBe(paused.status?.canaryRevision);
    expect(now.status?.stepStartedAt).toBe(paused.status?.stepStartedAt);
    expect(now.status?.replicas).toBe(6);
    expect((await ro().events(APP)).filter((e) => e === "CanaryStarted")).toHaveLength(3);
  });

  it("deleting the Rollout mid-canary: traffic back to stable, the canary's objects gone, the Deployment serving stable with its replicas", async () => {
    const before = totals();
    await kubectl(["delete", "rollout", "-n", ns, APP, "--wait=true", "--timeout=60s"]);
    await eventually("the canary Deployment gone", async () => ((await canaryDeployment()) === undefined ? true : undefined));
    await eventually("Service shop-canary gone", async () =>
      (await core.readNamespacedService({ name: `${APP}-canary`, namespace: ns }).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    );
    const r = await httpRoutes(kc, ns).get(APP);
    expect(r.spec.rules[0]?.backendRefs.map((b) => [b.name, b.weight])).toEqual([
      [APP, 100],
      [`${APP}-canary`, 0],
    ]);
    const d = await deployment();
    // Its template (shop:4) was never promoted: it stays paused on the stable revision, and says so.
    expect(d.spec?.paused).toBe(true);
    expect(d.metadata?.annotations?.["fledge.dev/left-paused"]).toMatch(/never promoted/);
    expect(d.metadata?.annotations?.["fledge.dev/rollout"]).toBeUndefined();
    expect(d.status?.readyReplicas).toBe(6);
    expect(await liveImages()).toEqual(["example.invalid/shop:3"]);
    await new Promise((res) => setTimeout(res, 2000));
    const after = totals();
    console.log(`deletion: ${(after?.requests ?? 0) - (before?.requests ?? 0)} requests, ${failed(after) - failed(before)} failed`);
    expect(failed(after) - failed(before)).toBe(0);
  });

  it("setCanaryScale {replicas: 3} then setWeight 10: three canary pods before any traffic", async () => {
    await kubectl(["delete", "hpa", "-n", ns, APP]);
    await kubectl(["rollout", "resume", "-n", ns, `deployment/${APP}`]);
    await gitOpsApply(ns, manifest("example.invalid/shop:4", 4));
    await eventually("the Deployment rolled out", async () => {
      const d = await deployment();
      return d.status?.updatedReplicas === 4 && d.status.readyReplicas === 4 && d.status.replicas === 4 ? true : undefined;
    });
    await apply(ns, rollout([{ setCanaryScale: { replicas: 3 } }, { setWeight: 10 }, { pause: {} }]));
    await ro().waitFor(APP, "adopted", (r) => isPromoted(r));
    // A timeline of the canary's available pods and its weight, as the API server's watches
    // deliver them (both in the order they were written; polling two GETs would race).
    const timeline: Array<{ at: number; available?: number; weight?: number }> = [];
    const watch = new k8s.Watch(kc);
    const watches = await Promise.all([
      watch.watch(
        `/apis/apps/v1/namespaces/${ns}/deployments`,
        { fieldSelector: `metadata.name=${APP}-canary` },
        (_type, d: k8s.V1Deployment) => {
          timeline.push({ at: Date.now(), available: d.status?.availableReplicas ?? 0 });
        },
        () => {},
      ),
      watch.watch(
        `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`,
        { fieldSelector: `metadata.name=${APP}` },
        (_type, r: { spec: { rules: Array<{ backendRefs: Array<{ name: string; weight?: number }> }> } }) => {
          timeline.push({ at: Date.now(), weight: r.spec.rules[0]?.backendRefs.find((b) => b.name === `${APP}-canary`)?.weight ?? 0 });
        },
        () => {},
      ),
    ]);
    await kubectl(["set", "image", "-n", ns, `deployment/${APP}`, "app=example.invalid/shop:5"]);
    await eventually("the first canary weight", async () => (timeline.some((e) => (e.weight ?? 0) > 0) ? true : undefined), 120_000, 50);
    for (const w of watches) w.abort();
    const firstTraffic = timeline.findIndex((e) => (e.weight ?? 0) > 0);
    const availableAtFirstTraffic = timeline
      .slice(0, firstTraffic)
      .filter((e) => e.available !== undefined)
      .at(-1)?.available;
    expect(availableAtFirstTraffic).toBe(3);
    expect((await canaryDeployment())?.spec?.replicas).toBe(3);
    await ro().waitFor(APP, "the canary at 10 %", (r) => r.status?.canaryWeight === 10 && r.status.currentStep === 2);
  });
});
