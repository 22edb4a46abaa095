// The reconciler (the I/O shell around the state machine) against small in-memory fakes of its
// narrow interfaces: the order of its writes, what a conflict and a failed write do, and the
// work queue's dedupe and backoff. The same shell runs against the real cluster in
// test/integration; here each rule is checked in milliseconds.
import * as k8s from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Sample } from "../../src/analysis/analysis-tick.js";
import { PrometheusReader } from "../../src/analysis/prometheus-reader.js";
import { type AnalysisSampler, InlineSampler, type SampleRequest } from "../../src/analysis/sampling.js";
import { ANNOTATION_ACTION, LABEL_REVISION } from "../../src/api/names.js";
import { templateRevision } from "../../src/api/revision.js";
import type { Rollout, RolloutStatus } from "../../src/api/types.js";
import { type Caches, type ClusterWriter, type ObjectStore, Reconciler } from "../../src/controller/reconciler.js";
import { WorkQueue } from "../../src/kube/work-queue.js";
import { createLogger } from "../../src/observability/logger.js";
import { createMetrics } from "../../src/observability/metrics.js";
import type { RouteObservation, TrafficRouter } from "../../src/traffic/router.js";
import { Routers } from "../../src/traffic/routers.js";
import { spec } from "./fixtures.js";

/** An in-memory cache keyed by namespace/name. */
function store<T extends k8s.KubernetesObject>(...objects: T[]): ObjectStore<T> {
  const key = (name: string, namespace?: string) => `${namespace ?? ""}/${name}`;
  const byKey = new Map(objects.map((o) => [key(o.metadata?.name ?? "", o.metadata?.namespace), o]));
  return {
    get: (name, namespace) => byKey.get(key(name, namespace)),
    list: (namespace) => [...byKey.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace),
  };
}

const apiError = (code: number, reason: string) =>
  new k8s.ApiException(code, reason, JSON.stringify({ reason, message: `${reason} (from the fake)` }), {});

/** Records every write in order; each kind of write can be made to fail. */
class FakeCluster implements ClusterWriter {
  readonly writes: string[] = [];
  readonly statuses: RolloutStatus[] = [];
  failApply: Error | undefined;
  failStatus: Error | undefined;
  async apply<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    this.writes.push(`apply ${object.kind}/${object.metadata?.name}`);
    if (this.failApply) throw this.failApply;
    return object;
  }
  async mergePatch<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    this.writes.push(`patch ${object.kind}/${object.metadata?.name}`);
    return object;
  }
  async removeAnnotationIfEquals(_rollout: Rollout, key: string, value: string): Promise<void> {
    this.writes.push(`remove ${key}=${value}`);
  }
  async replaceRolloutStatus(rollout: Rollout): Promise<Rollout> {
    this.writes.push("status");
    this.statuses.push(rollout.status ?? {});
    if (this.failStatus) throw this.failStatus;
    const resourceVersion = String(Number(rollout.metadata.resourceVersion ?? 0) + 1);
    return { ...rollout, metadata: { ...rollout.metadata, resourceVersion } };
  }
  async event(_rollout: Rollout, _type: "Normal" | "Warning", reason: string): Promise<void> {
    this.writes.push(`event ${reason}`);
  }
}

const routed: RouteObservation = { routable: true, weight: 0, reason: "IngressFound", message: "the canary Ingress follows checkout" };
const router: TrafficRouter = {
  name: "fake",
  queryVariables: () => ({ ingress: "checkout" }),
  observe: () => routed,
  setWeight: async () => {},
  setHeaderRoute: async () => {},
};

const rolloutSpec = spec();
const revision = templateRevision(rolloutSpec.template);

/** A Healthy Rollout whose stable Deployment runs the current template, with `action` in its annotation. */
function healthy(action?: string): { rollout: Rollout; caches: Caches } {
  const rollout: Rollout = {
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: {
      name: "checkout",
      namespace: "shop",
      uid: "u1",
      generation: 1,
      resourceVersion: "10",
      ...(action ? { annotations: { [ANNOTATION_ACTION]: action } } : {}),
    },
    spec: rolloutSpec,
    status: { observedGeneration: 1, phase: "Healthy", stableRevision: revision, currentRevision: revision },
  };
  const stable: k8s.V1Deployment = {
    metadata: { name: "checkout-stable", namespace: "shop", generation: 1 },
    spec: {
      replicas: 4,
      selector: {},
      template: { metadata: { labels: { [LABEL_REVISION]: revision } } },
    },
    status: { observedGeneration: 1, replicas: 4, updatedReplicas: 4, availableReplicas: 4 },
  };
  return {
    rollout,
    caches: {
      rollouts: store(rollout),
      deployments: store(stable),
      services: store(),
      ingresses: store(),
      policies: store(),
    },
  };
}

function reconcilerFor(caches: Caches, cluster: FakeCluster) {
  return new Reconciler({
    kube: cluster,
    caches,
    sampler: new InlineSampler(new PrometheusReader()),
    endpoints: { resolve: async () => ({ address: "http://127.0.0.1:9" }) },
    routers: new Routers(router, router),
    log: createLogger("error", "test"),
    metrics: createMetrics(),
  });
}

describe("the reconciler's writes", () => {
  it("records an action as handled in status before it removes the annotation (the other order loses the action)", async () => {
    const { caches } = healthy("abort/1");
    const cluster = new FakeCluster();
    await reconcilerFor(caches, cluster).reconcile("shop/checkout");
    const status = cluster.writes.indexOf("status");
    const removed = cluster.writes.indexOf(`remove ${ANNOTATION_ACTION}=abort/1`);
    expect(status).toBeGreaterThanOrEqual(0);
    expect(removed).toBeGreaterThan(status);
    expect(cluster.statuses[0]?.handledAction).toBe("abort/1");
    expect(cluster.statuses[0]?.lastAction).toMatchObject({ value: "abort/1", outcome: "Ignored" });
  });

  it("a status write that conflicts is retried soon, and the annotation stays", async () => {
    const { caches } = healthy("abort/1");
    const cluster = new FakeCluster();
    cluster.failStatus = apiError(409, "Conflict");
    const result = await reconcilerFor(caches, cluster).reconcile("shop/checkout");
    expect(result).toEqual({ requeueAfterMs: 50 });
    expect(cluster.writes.filter((w) => w.startsWith("remove"))).toEqual([]);
    expect(cluster.writes.filter((w) => w.startsWith("event"))).toEqual([]);
  });

  it("a move the API server refuses leaves the status it started from, says Reconciled=False, and fails the reconcile", async () => {
    const { caches, rollout } = healthy();
    const cluster = new FakeCluster();
    cluster.failApply = apiError(422, "Invalid");
    await expect(reconcilerFor(caches, cluster).reconcile("shop/checkout")).rejects.toThrow();
    expect(cluster.statuses).toHaveLength(1);
    const written = cluster.statuses[0];
    expect(written?.phase).toBe(rollout.status?.phase);
    expect(written?.conditions?.find((c) => c.type === "Reconciled")).toMatchObject({
      status: "False",
      reason: "ApplyFailed",
      message: expect.stringMatching(/^Invalid: Invalid \(from the fake\)/),
    });
    // No Event for a move that did not happen; it is decided again on the retry.
    expect(cluster.writes.filter((w) => w.startsWith("event"))).toEqual([]);
  });

  it("a Rollout that cannot be applied before it has any phase says so in its phase", async () => {
    const { caches, rollout } = healthy();
    delete rollout.status;
    const cluster = new FakeCluster();
    cluster.failApply = apiError(500, "InternalError");
    await expect(reconcilerFor(caches, cluster).reconcile("shop/checkout")).rejects.toThrow();
    expect(cluster.statuses[0]?.phase).toBe("Initializing");
    expect(cluster.statuses[0]?.message).toMatch(/^cannot be applied: InternalError/);
  });

  it("an idle Healthy Rollout whose objects are all in place writes nothing", async () => {
    const { caches } = healthy();
    const cluster = new FakeCluster();
    const reconciler = reconcilerFor(caches, cluster);
    await reconciler.reconcile("shop/checkout");
    // The first pass creates the two Services and settles status; feed its status back, as the cache would.
    const settled = cluster.statuses.at(-1) ?? {};
    const services = cluster.writes.filter((w) => w.startsWith("apply Service/"));
    expect(services).toEqual(["apply Service/checkout", "apply Service/checkout-canary"]);
    const again = healthy();
    const rollout = { ...again.rollout, status: settled, metadata: { ...again.rollout.metadata, resourceVersion: "20" } };
    const quiet = new FakeCluster();
    const services2 = store(
      ...(["checkout", "checkout-canary"] as const).map(
        (name) =>
          ({
            metadata: { name, namespace: "shop" },
            spec: {
              selector: { "fledge.dev/rollout": "checkout", "fledge.dev/track": name === "checkout" ? "stable" : "canary" },
              ports: [{ name: "http", port: 80, targetPort: 8080 }],
            },
          }) as k8s.V1Service,
      ),
    );
    await reconcilerFor({ ...again.caches, rollouts: store(rollout), services: services2 }, quiet).reconcile("shop/checkout");
    expect(quiet.writes).toEqual([]);
  });
});

describe("the work queue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** One worker, whose first key runs until `release` is called; `runs` says what ran, in order. */
  const heldQueue = () => {
    const runs: string[] = [];
    let release: () => void = () => {};
    const queue = new WorkQueue(async (key) => {
      runs.push(key);
      if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return {};
    }, 1);
    return { queue, runs, release: () => release() };
  };

  it("runs a key once however often it is added while waiting, and once more if added while running", async () => {
    const { queue, runs, release } = heldQueue();
    queue.add("a");
    queue.add("a"); // running now: marked dirty
    queue.add("a");
    queue.add("b");
    queue.add("b"); // waiting: deduped
    release();
    await vi.runAllTimersAsync();
    await queue.shutdown();
    expect(runs).toEqual(["a", "b", "a"]);
  });

  it("runs a resync's keys after every key added for a change, and moves a resynced key up when it changes", async () => {
    const { queue, runs, release } = heldQueue();
    queue.add("busy");
    for (const key of ["r1", "r2", "r3", "r4"]) queue.addLow(key); // a resync
    queue.add("canary-due");
    queue.addLow("canary-due"); // already waiting in the high lane: stays there
    queue.add("r3"); // its Deployment changed: no longer waits for the resync
    queue.addLow("busy"); // resynced while running: runs again, after the high lane
    expect(queue.depth()).toBe(5);
    release();
    await vi.runAllTimersAsync();
    await queue.shutdown();
    expect(runs).toEqual(["busy", "canary-due", "r3", "r1", "r2", "r4", "busy"]);
  });

  it("backs off a failing key (0.5 s, 1 s, 2 s … with jitter) and forgets the failures after a success", async () => {
    const at: number[] = [];
    let failures = 3;
    const queue = new WorkQueue(async () => {
      at.push(Date.now());
      if (failures-- > 0) throw new Error("boom");
      return {};
    }, 1);
    const start = Date.now();
    queue.add("a");
    await vi.advanceTimersByTimeAsync(10_000);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? start));
    expect(at).toHaveLength(4);
    expect(gaps[0]).toBeGreaterThanOrEqual(400);
    expect(gaps[0]).toBeLessThanOrEqual(600);
    expect(gaps[1]).toBeGreaterThanOrEqual(800);
    expect(gaps[2]).toBeGreaterThanOrEqual(1600);
    await queue.shutdown();
  });

  it("a delayed add keeps the earliest due time; shutdown waits for the work in flight", async () => {
    const runs: number[] = [];
    let finished = false;
    const queue = new WorkQueue(async () => {
      runs.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 100));
      finished = true;
      return {};
    }, 1);
    const start = Date.now();
    queue.add("a", 5_000);
    queue.add("a", 1_000);
    queue.add("a", 3_000);
    await vi.advanceTimersByTimeAsync(1_050);
    expect(runs.map((t) => t - start)).toEqual([1_000]);
    const stopping = queue.shutdown();
    expect(finished).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await stopping;
    expect(finished).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toHaveLength(1);
  });
});

describe("status checkpoints while a canary is analysed", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A canary of `revision` at weight 10, paused (pause {}) with a 1 s policy, whose canary serves
   * 100 requests a second without errors; the cache takes every status written, as the real one would. */
  function analysedCanary(deferred?: AnalysisSampler) {
    const canarySpec = spec({
      analysis: { policy: "p" },
      strategy: { canary: { steps: [{ setWeight: 10 }, { pause: {} }] } },
    });
    const canaryRevision = templateRevision(canarySpec.template);
    let rollout: Rollout = {
      apiVersion: "fledge.dev/v1alpha1",
      kind: "Rollout",
      metadata: { name: "checkout", namespace: "shop", uid: "u1", generation: 2, resourceVersion: "10" },
      spec: canarySpec,
      status: {
        observedGeneration: 2,
        phase: "Paused",
        stableRevision: "rev1",
        currentRevision: canaryRevision,
        canaryRevision,
        currentStep: 1,
        canaryWeight: 10,
        stepStartedAt: new Date().toISOString(),
        lastProgressAt: new Date().toISOString(),
      },
    };
    const deployment = (name: string, rev: string, replicas: number): k8s.V1Deployment => ({
      metadata: { name, namespace: "shop", generation: 1 },
      spec: { replicas, selector: {}, template: { metadata: { labels: { [LABEL_REVISION]: rev } } } },
      status: { observedGeneration: 1, replicas, updatedReplicas: replicas, availableReplicas: replicas },
    });
    const policy = {
      apiVersion: "fledge.dev/v1alpha1" as const,
      kind: "AnalysisPolicy" as const,
      metadata: { name: "p", namespace: "shop" },
      spec: {
        interval: "1s",
        errorRate: { requests: "r", errors: "e", judge: { threshold: { maxErrorRate: 0.05 } }, minRequests: 10 },
      },
    };
    const caches: Caches = {
      rollouts: { get: () => rollout, list: () => [rollout] },
      deployments: store(deployment("checkout-stable", "rev1", 4), deployment("checkout-canary", canaryRevision, 1)),
      services: store(),
      ingresses: store(),
      policies: store(policy),
    };
    const startedAt = Date.now();
    const seconds = () => Math.round((Date.now() - startedAt) / 1000);
    const cluster = new (class extends FakeCluster {
      override async replaceRolloutStatus(r: Rollout): Promise<Rollout> {
        const written = await super.replaceRolloutStatus(r);
        rollout = written;
        return written;
      }
    })();
    const weighted: TrafficRouter = { ...router, observe: () => ({ ...routed, weight: 10 }) };
    const reconciler = () =>
      new Reconciler({
        kube: cluster,
        caches,
        sampler:
          deferred ??
          new InlineSampler({
            sampleChecks: async () => ({
              "error-rate": {
                kind: "counters",
                counters: {
                  canaryRequests: { a: 100 * seconds() },
                  canaryErrors: { a: 0 },
                  stableRequests: { a: 900 * seconds() },
                  stableErrors: { a: 0 },
                },
              },
            }),
          }),
        endpoints: { resolve: async () => ({ address: "http://127.0.0.1:9" }) },
        routers: new Routers(weighted, weighted),
        log: createLogger("error", "test"),
        metrics: createMetrics(),
        now: () => new Date(),
      });
    return { cluster, reconciler, current: () => rollout };
  }

  it("writes the running figures at most once per 10 s while nothing is decided, and a restart loses no count", async () => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z"), toFake: ["Date"] });
    const { cluster, reconciler, current } = analysedCanary();
    const first = reconciler();
    for (let t = 0; t <= 30; t++) {
      vi.setSystemTime(new Date(Date.parse("2026-01-01T00:00:00Z") + t * 1000));
      await first.reconcile("shop/checkout");
    }
    const written = cluster.statuses.length;
    // The first reading (the baseline), the first pass (a decision), then a checkpoint every 10 s.
    expect(written).toBeGreaterThanOrEqual(3);
    expect(written).toBeLessThanOrEqual(6);
    const checkpoint = current().status?.analysis?.checks[0]?.canary?.requests ?? 0;
    expect(checkpoint).toBeGreaterThan(0);
    // A new operator (nothing in memory) at t = 35: its first sample is differenced from the
    // checkpoint's counters, so every request since the baseline is counted, once.
    vi.setSystemTime(new Date(Date.parse("2026-01-01T00:00:35Z")));
    await reconciler().reconcile("shop/checkout");
    expect(cluster.statuses.length).toBe(written + 1);
    expect(current().status?.analysis?.checks[0]?.canary?.requests).toBe(3500);
  });
  it("does not wait for a batched sample: it asks, decides without it, and applies it on the reconcile the sampler triggers", async () => {
    const asked: SampleRequest[] = [];
    let ready: Sample | undefined;
    const deferred: AnalysisSampler = {
      sample: async (request) => {
        asked.push(request);
        const sample = ready;
        ready = undefined;
        return sample;
      },
      forget: () => {},
    };
    const { reconciler, current } = analysedCanary(deferred);
    const r = reconciler();
    await r.reconcile("shop/checkout");
    expect(asked).toHaveLength(1);
    expect(asked[0]?.key).toBe("shop/checkout");
    // The basis names the analysis state the sample is for: revision, last sample and weight.
    expect(asked[0]?.basis).toMatch(/\|10$/);
    expect(current().status?.analysis?.lastSampleAt).toBeUndefined();
    const counters = { canaryRequests: { a: 10 }, canaryErrors: { a: 0 }, stableRequests: { a: 90 }, stableErrors: { a: 0 } };
    const at = new Date().toISOString();
    ready = { at, ok: true, readings: { "error-rate": { kind: "counters", counters, evaluatedAt: Date.parse(at) / 1000 } } };
    await r.reconcile("shop/checkout");
    expect(current().status?.analysis?.lastSampleAt).toBe(at);
    // Used at once, and the next one asked for ahead, due one interval (1 s) after it, for the
    // analysis state just decided: one reconcile per interval.
    expect(asked).toHaveLength(3);
    expect(asked[2]?.notBefore).toBe(Date.parse(at) + 1000);
    expect(asked[2]?.basis).toBe(`${asked[0]?.basis.split("|")[0]}|${at}|10`);
    expect(asked[2]?.previous["error-rate"]?.counters.canaryRequests).toEqual({ a: 10 });
    expect(current().status?.analysis?.checks[0]?.lastCounters?.canaryRequests).toEqual({ a: 10 });
  });
});
