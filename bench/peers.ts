// make bench-peers: Fledge beside the real Argo Rollouts controller and the real Flagger, on one
// local cluster, one real proxy (Traefik's Ingress-NGINX provider in its sealed namespace), one
// real Prometheus scraping Traefik, the same pods (src/dataplane/pods.ts) and the same clients
// (100 req/s per app through Traefik). Each contender runs the same application in namespaces
// of its own, at the same time: stable answers 0.5 % errors, the canary as the case says.
//
// Contenders (issue 16): fledge, Fledge with policies/traefik-nginx-error-rate.yaml as shipped
// (sequential test, 1 s); argo-docs, argo-fast, flagger-docs, flagger-fast: the real controllers
// configured as src/simulate/peer-models.ts's PEER_CONFIGS say (their docs' settings, and the
// tightened ones a careful user would pick), with NGINX traffic routing / the NGINX provider and
// an analysis on Traefik's counter. Fledge and Argo run BENCH_STEPS (20 %, 2 min, 50 %, 2 min).
// Cases: CASES (default "10x"): 10x (canary 5 %), 2x (1 %), good (0.5 %), incident (a good canary;
// from 20 s after the release, while every contender is still analysing its first step, both arms
// answer errors × 5 for 2 minutes: the namespace's
// sim.fledge.dev/error-multiplier, read by the pods). RUNS lanes per contender and case,
// LANES_AT_ONCE of them at a time, each in a namespace of its own. Per lane: the outcome, the time from the first request a
// canary pod answered to the canary weight back at 0 (or to promotion), and the failed requests
// the canary's pods served before its weight reached 0 (counted by the clients, from the pods'
// own answers). Tables go to docs/benchmarks.md (section "peers").
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { createLogger } from "../src/observability/logger.js";
import { startLoad } from "../src/sim/load.js";
import { type ArgoConfig, BENCH_STEPS, type FlaggerConfig, PEER_CONFIGS } from "../src/simulate/peer-models.js";
import { ANNOTATION_ERROR_MULTIPLIER } from "../src/simulated-app/behaviour.js";
import { writeSection } from "./markdown-section.js";
import { installCrds, startPeerBench, versions } from "./peer-controllers.js";
import { type CaseName, LANES_FILE, type PeerLane, type PeersRun, renderPeers } from "./peers-report.js";

const RUNS = Number(process.env.RUNS ?? 1);
/** Lanes running at once: each is 100 req/s through the one proxy, which is what bounds this (2 cores: 10). */
const LANES_AT_ONCE = Math.max(1, Number(process.env.LANES_AT_ONCE ?? 10));
const CASES = (process.env.CASES ?? "10x").split(",").filter(Boolean) as CaseName[];
const CONTENDERS = (process.env.CONTENDERS ?? "fledge,argo-docs,argo-fast,flagger-docs,flagger-fast").split(",").filter(Boolean);
/** A lane that has not ended by then is counted as "no decision". */
const LANE_MINUTES = Number(process.env.LANE_MINUTES ?? 30);
const STABLE_ERRORS = 0.005;

const CASE_ERRORS: Record<CaseName, number> = { "10x": 0.05, "2x": 0.01, good: 0.005, incident: 0.005 };
/** The incident case: when it starts after the release, how long it lasts, by how much it multiplies errors. */
const INCIDENT = { afterMs: 20_000, forMs: 120_000, multiplier: 5 };

const podTemplate = (tag: string, errorRate: number, canary: boolean) => ({
  metadata: { labels: { app: "app" } },
  spec: {
    containers: [
      {
        name: "app",
        image: `example.invalid/app:${tag}`,
        ports: [{ containerPort: 8080, name: "http" }],
        env: [
          { name: "FLEDGE_SIM_ERROR_RATE", value: String(errorRate) },
          ...(canary ? [{ name: "FLEDGE_SIM_TRACK", value: "canary" }] : []),
        ],
      },
    ],
  },
});

const ingress = (ns: string, service: string) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: { name: "app", namespace: ns },
  spec: {
    ingressClassName: "nginx",
    rules: [
      {
        host: `app.${ns}.peers.test`,
        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service, port: { number: 80 } } } }] },
      },
    ],
  },
});

const service = (ns: string, name: string, selector: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { selector, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
});

/** Traefik's series for the canary of Ingress `app` whose stable Service is `app`. */
const canarySeries = (ns: string) => `traefik_service_requests_total{service=~"${ns}-app-app-[0-9]+-canary@kubernetesingressnginx"`;

type Outcome = "promoted" | "rolled back" | "running";

interface Contender {
  name: string;
  /** What it runs in a lane at v1 (stable, Healthy afterwards). */
  objects(ns: string, prometheusUrl: string): object[];
  /** Gives the lane its canary. */
  release(ns: string, errorRate: number): Promise<void>;
  outcome(ns: string): Promise<Outcome>;
  /** Stable and serving at v1. */
  ready(ns: string): Promise<boolean>;
}

async function main() {
  if (CASES.length === 0 || CONTENDERS.length === 0) return;
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[peers] ${line}\n`);
  const bench = await startPeerBench("peers", {}, log);
  const cluster = bench.cluster;
  const results: PeerLane[] = [];
  /** Written after every lane, so that a run cut short still leaves its lanes to render. */
  const save = (): PeersRun => {
    const run: PeersRun = {
      date: new Date().toISOString().slice(0, 10),
      command: `RUNS=${RUNS} CASES=${CASES.join(",")} LANE_MINUTES=${LANE_MINUTES} LANES_AT_ONCE=${LANES_AT_ONCE} make bench-peers`,
      minutes: (Date.now() - started) / 60_000,
      machine: process.env.BENCH_MACHINE ?? "2 cores, 24 GiB",
      versions: {
        argoRollouts: versions.ARGO_ROLLOUTS_VERSION ?? "",
        flagger: versions.FLAGGER_VERSION ?? "",
        traefik: versions.TRAEFIK_VERSION ?? "",
        prometheus: versions.PROMETHEUS_VERSION ?? "",
      },
      cases: CASES,
      contenders: CONTENDERS,
      incident: INCIDENT,
      lanes: results,
    };
    writeFileSync(LANES_FILE, `${JSON.stringify(run, null, 1)}\n`);
    return run;
  };
  try {
    const plane = cluster.dataPlane;
    if (plane.kind !== "traefik") throw new Error(`bench-peers needs the real data plane, and this machine has none: ${plane.why}`);
    await installCrds(bench);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const networking = kc.makeApiClient(k8s.NetworkingV1Api);
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

    // ------------------------------------------------------------ the controllers, cluster-wide
    for (const controller of ["fledge", "argo", "flagger"] as const) await bench.startController(controller, cluster.kubeconfig);

    /** A lane's one object of a kind (each lane names its application "app"). */
    const readApp = async <T>(ns: string, group: string, version: string, plural: string) =>
      (await custom.getNamespacedCustomObject({ group, version, namespace: ns, plural, name: "app" })) as T;
    const argoRollout = (ns: string) =>
      readApp<{ status?: { abort?: boolean; phase?: string; stableRS?: string; currentPodHash?: string } }>(
        ns,
        "argoproj.io",
        "v1alpha1",
        "rollouts",
      );
    const fledgeRollout = (ns: string) => readApp<Rollout>(ns, GROUP, VERSION, "rollouts");
    const flaggerCanary = (ns: string) => readApp<{ status?: { phase?: string } }>(ns, "flagger.app", "v1beta1", "canaries");
    /** Each Argo lane's pod-template hash at v1: a promotion is of another one. */
    const argoV1 = new Map<string, string>();
    const argo = (name: string, analysis: ArgoConfig): Contender => ({
      name,
      objects: (ns, prometheusUrl) => [
        ingress(ns, "app"),
        service(ns, "app", { app: "app" }),
        service(ns, "app-canary", { app: "app" }),
        {
          apiVersion: "argoproj.io/v1alpha1",
          kind: "AnalysisTemplate",
          metadata: { name: "success-rate", namespace: ns },
          spec: {
            metrics: [
              {
                name: "success-rate",
                interval: `${analysis.intervalSeconds}s`,
                successCondition: `result[0] >= ${analysis.minSuccess}`,
                failureLimit: analysis.failureLimit,
                provider: {
                  prometheus: {
                    address: prometheusUrl,
                    query: `sum(rate(${canarySeries(ns)},code!~"5.."}[${analysis.windowSeconds}s])) / sum(rate(${canarySeries(ns)}}[${analysis.windowSeconds}s]))`,
                  },
                },
              },
            ],
          },
        },
        {
          apiVersion: "argoproj.io/v1alpha1",
          kind: "Rollout",
          metadata: { name: "app", namespace: ns },
          spec: {
            replicas: 4,
            selector: { matchLabels: { app: "app" } },
            template: podTemplate("1", STABLE_ERRORS, false),
            strategy: {
              canary: {
                canaryService: "app-canary",
                stableService: "app",
                trafficRouting: { nginx: { stableIngress: "app" } },
                analysis: { templates: [{ templateName: "success-rate" }], startingStep: 1 },
                steps: analysis.steps.flatMap((s) => [{ setWeight: s.weight }, { pause: { duration: `${s.pauseSeconds}s` } }]),
              },
            },
          },
        },
      ],
      release: (ns, errorRate) =>
        custom
          .patchNamespacedCustomObject(
            {
              group: "argoproj.io",
              version: "v1alpha1",
              namespace: ns,
              plural: "rollouts",
              name: "app",
              body: { spec: { template: podTemplate("2", errorRate, true) } },
            },
            merge,
          )
          .then(() => undefined),
      outcome: async (ns) => {
        const r = await argoRollout(ns);
        if (r.status?.abort) return "rolled back";
        const v1 = argoV1.get(ns);
        if (
          r.status?.phase === "Healthy" &&
          r.status.stableRS === r.status.currentPodHash &&
          v1 !== undefined &&
          r.status.currentPodHash !== v1
        )
          return "promoted";
        return "running";
      },
      ready: async (ns) => {
        const r = await argoRollout(ns);
        if (r.status?.phase !== "Healthy" || !r.status.currentPodHash) return false;
        argoV1.set(ns, r.status.currentPodHash);
        return true;
      },
    });

    const flagger = (name: string, a: FlaggerConfig): Contender => ({
      name,
      objects: (ns, prometheusUrl) => [
        ingress(ns, "app"),
        {
          apiVersion: "flagger.app/v1beta1",
          kind: "MetricTemplate",
          metadata: { name: "error-rate", namespace: ns },
          spec: {
            provider: { type: "prometheus", address: prometheusUrl },
            query: `100 * sum(rate(${canarySeries(ns)},code=~"5.."}[{{ interval }}])) / sum(rate(${canarySeries(ns)}}[{{ interval }}]))`,
          },
        },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "app", namespace: ns, labels: { app: "app" } },
          spec: { replicas: 4, selector: { matchLabels: { app: "app" } }, template: podTemplate("1", STABLE_ERRORS, false) },
        },
        {
          apiVersion: "flagger.app/v1beta1",
          kind: "Canary",
          metadata: { name: "app", namespace: ns },
          spec: {
            provider: "nginx",
            targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "app" },
            ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name: "app" },
            progressDeadlineSeconds: 600,
            service: { port: 80, targetPort: 8080 },
            analysis: {
              interval: `${a.intervalSeconds}s`,
              threshold: a.threshold,
              maxWeight: a.maxWeight,
              stepWeight: a.stepWeight,
              metrics: [
                {
                  name: "error-rate",
                  templateRef: { name: "error-rate" },
                  thresholdRange: { max: a.maxErrorPercent },
                  interval: `${a.windowSeconds}s`,
                },
              ],
            },
          },
        },
      ],
      release: (ns, errorRate) =>
        apps
          .patchNamespacedDeployment({ name: "app", namespace: ns, body: { spec: { template: podTemplate("2", errorRate, true) } } }, merge)
          .then(() => undefined),
      outcome: async (ns) => {
        const c = await flaggerCanary(ns);
        return c.status?.phase === "Failed" ? "rolled back" : c.status?.phase === "Succeeded" ? "promoted" : "running";
      },
      ready: async (ns) => {
        const c = await flaggerCanary(ns);
        return c.status?.phase === "Initialized";
      },
    });

    const fledgePolicy = parse(readFileSync(path.join(repoRoot, "policies", "traefik-nginx-error-rate.yaml"), "utf8")) as { spec: object };
    const fledge: Contender = {
      name: "fledge",
      objects: (ns) => [
        ingress(ns, "app"),
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "AnalysisPolicy",
          metadata: { name: "error-rate", namespace: ns },
          spec: fledgePolicy.spec,
        },
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "Rollout",
          metadata: { name: "app", namespace: ns },
          spec: {
            replicas: 4,
            template: podTemplate("1", STABLE_ERRORS, false),
            service: { port: 80, targetPort: 8080 },
            traffic: { nginx: { ingress: "app" } },
            analysis: { policy: "error-rate" },
            strategy: {
              canary: { steps: BENCH_STEPS.flatMap((s) => [{ setWeight: s.weight }, { pause: { duration: `${s.pauseSeconds}s` } }]) },
            },
            progressDeadlineSeconds: 1800,
          },
        },
      ],
      release: (ns, errorRate) =>
        custom
          .patchNamespacedCustomObject(
            {
              group: GROUP,
              version: VERSION,
              namespace: ns,
              plural: "rollouts",
              name: "app",
              body: { spec: { template: podTemplate("2", errorRate, true) } },
            },
            merge,
          )
          .then(() => undefined),
      outcome: async (ns) => {
        const r = await fledgeRollout(ns);
        if (r.status?.phase === "Degraded") return "rolled back";
        if (
          r.status?.phase === "Healthy" &&
          r.status.canaryRevision === undefined &&
          r.status.stableRevision === r.status.currentRevision &&
          (r.status.observedGeneration ?? 0) >= (r.metadata.generation ?? 1)
        )
          return "promoted";
        return "running";
      },
      ready: async (ns) => {
        const r = await fledgeRollout(ns);
        return r.status?.phase === "Healthy";
      },
    };
    const all: Record<string, Contender> = {
      fledge,
      "argo-docs": argo("argo-docs", PEER_CONFIGS["argo-docs"]),
      "argo-fast": argo("argo-fast", PEER_CONFIGS["argo-fast"]),
      "flagger-docs": flagger("flagger-docs", PEER_CONFIGS["flagger-docs"]),
      "flagger-fast": flagger("flagger-fast", PEER_CONFIGS["flagger-fast"]),
    };
    const contenders = CONTENDERS.map((c) => {
      const found = all[c];
      if (!found) throw new Error(`unknown contender ${c}: one of ${Object.keys(all).join(", ")}`);
      return found;
    });

    // Every lane could run its full LANE_MINUTES, plus its start and the baseline minute, one pool slot after another.
    const loadMs = Math.ceil((CASES.length * RUNS * contenders.length) / LANES_AT_ONCE) * (LANE_MINUTES + 5) * 60_000;
    const load = await startLoad({
      kc,
      log: createLogger("warn", "load"),
      webUrl: plane.webUrl,
      gateway: plane.gateway,
      ingressClass: plane.ingressClass,
      rps: 100,
      seed: 11,
      maxDurationMs: loadMs,
      maxRequests: Math.ceil((100 * LANES_AT_ONCE * loadMs) / 1000),
    });

    /** The canary weight in the lane: the canary Ingress the controller made (undefined: none yet). */
    const canaryWeight = async (ns: string) => {
      const list = await networking.listNamespacedIngress({ namespace: ns });
      const canary = list.items.find((i) => i.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary"] === "true");
      const w = canary?.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-weight"];
      return w === undefined ? undefined : Number(w);
    };
    const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number, everyMs = 500) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await done().catch(() => false)) return true;
        await sleep(everyMs);
      }
      log(`gave up waiting for ${what}`);
      return false;
    };
    const setErrorMultiplier = (ns: string, multiplier: number | null) =>
      core.patchNamespace(
        {
          name: ns,
          body: { metadata: { annotations: { [ANNOTATION_ERROR_MULTIPLIER]: multiplier === null ? null : String(multiplier) } } },
        },
        merge,
      );

    /** One lane: its namespace, v1, a minute of stable traffic, the release, the decision; then gone. */
    const runLane = async (c: Contender, caseName: CaseName, run: number) => {
      const ns = `peers-${c.name}-${caseName}-${run}`.toLowerCase();
      await core.createNamespace({ body: { metadata: { name: ns } } });
      try {
        for (const o of c.objects(ns, cluster.prometheusUrl)) await objects.create(o as k8s.KubernetesObject);
        if (!(await until(`${ns} at v1`, () => c.ready(ns), 10 * 60_000))) return;
        // A minute of stable traffic first, so that every rate() window has a baseline.
        await sleep(60_000);
        const key = `${ns}/Ingress/app`;
        const arm = (which: "canary" | "stable") => load.totals()[key]?.[which] ?? { requests: 0, errors: 0 };
        const before = arm("canary");
        const sentBefore = load.totals()[key]?.requests ?? 0;
        const releasedAt = Date.now();
        await c.release(ns, CASE_ERRORS[caseName]);
        let first: number | undefined;
        let zeroAt: number | undefined;
        let errorsAtZero = 0;
        let requestsAtZero = 0;
        let outcome = "running" as Outcome;
        /** The incident case: the stable arm's error share while it lasted (the check that it happened). */
        let incidentStableErrors: number | undefined;
        const incident = async () => {
          await sleep(INCIDENT.afterMs);
          const was = arm("stable");
          await setErrorMultiplier(ns, INCIDENT.multiplier);
          await sleep(INCIDENT.forMs);
          await setErrorMultiplier(ns, null);
          const now = arm("stable");
          incidentStableErrors = (now.errors - was.errors) / Math.max(1, now.requests - was.requests);
        };
        const decided = until(
          `${ns} decided`,
          async () => {
            const now = arm("canary");
            if (first === undefined && now.requests > before.requests) first = Date.now();
            if (first !== undefined && zeroAt === undefined && (await canaryWeight(ns)) === 0) {
              zeroAt = Date.now();
              errorsAtZero = now.errors - before.errors;
              requestsAtZero = now.requests - before.requests;
            }
            outcome = await c.outcome(ns);
            return outcome !== "running" && (outcome === "promoted" || zeroAt !== undefined);
          },
          LANE_MINUTES * 60_000,
          200,
        );
        await Promise.all([decided, caseName === "incident" ? incident() : undefined]);
        const end = arm("canary");
        results.push({
          contender: c.name,
          case: caseName,
          ns,
          outcome: outcome === "running" ? "no decision" : outcome,
          ...(first !== undefined ? { firstTrafficAfter: (first - releasedAt) / 1000 } : {}),
          ...(outcome === "rolled back" && first !== undefined && zeroAt !== undefined ? { toZero: (zeroAt - first) / 1000 } : {}),
          ...(outcome === "promoted" && first !== undefined ? { toPromote: (Date.now() - first) / 1000 } : {}),
          canaryErrors: outcome === "rolled back" ? errorsAtZero : end.errors - before.errors,
          canaryRequests: outcome === "rolled back" ? requestsAtZero : end.requests - before.requests,
          requestsPerSecond: ((load.totals()[key]?.requests ?? 0) - sentBefore) / ((Date.now() - releasedAt) / 1000),
          ...(incidentStableErrors !== undefined ? { incidentStableErrors } : {}),
        });
        log(`${ns}: ${JSON.stringify(results.at(-1))}`);
        save();
      } finally {
        await core.deleteNamespace({ name: ns }).catch(() => undefined);
      }
    };

    // The lanes, run by run, longest-running contenders first within a run; LANES_AT_ONCE at a
    // time, a new one starting as soon as one ends (the load is what bounds how many).
    const queue = Array.from({ length: RUNS }, (_, run) =>
      CASES.flatMap((caseName) => contenders.map((c) => ({ c, caseName, run }))),
    ).flat();
    log(`${queue.length} lanes, ${LANES_AT_ONCE} at a time`);
    await Promise.all(
      Array.from({ length: Math.min(LANES_AT_ONCE, queue.length) }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await runLane(next.c, next.caseName, next.run);
      }),
    );
    await load.stop();
  } finally {
    await bench.stop();
  }

  const run = save();
  const table = renderPeers(run);
  process.stdout.write(`${table}\n`);
  process.stderr.write(`lanes in ${LANES_FILE}; tables written to ${writeSection("peers", table)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
