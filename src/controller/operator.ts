// `fledge operator`, top-down: watch Rollouts and what they own, queue keys, reconcile one
// Rollout at a time per key, serve /metrics /healthz /readyz, stop cleanly on SIGTERM.
import * as k8s from "@kubernetes/client-node";
import { BatchedSampler } from "../analysis/batched-sampler.js";
import { PrometheusEndpoints } from "../analysis/prometheus-endpoint.js";
import { PrometheusReader } from "../analysis/prometheus-reader.js";
import { LABEL_MANAGED_BY, LABEL_ROLLOUT, MANAGED_BY } from "../api/names.js";
import { type AnalysisPolicy, GROUP, type Rollout, VERSION } from "../api/types.js";
import { Kube } from "../kube/client.js";
import { reuseConnections } from "../kube/connection-reuse.js";
import { LabelIndex } from "../kube/label-index.js";
import { TokenBucket } from "../kube/rate-limit.js";
import { ReferenceIndex, ref } from "../kube/reference-index.js";
import { ScopedWatcher } from "../kube/scoped-watcher.js";
import type { WatchHandlers } from "../kube/watcher.js";
import { WorkQueue } from "../kube/work-queue.js";
import { CloudEventsSink } from "../notify/cloudevents.js";
import { Outbound } from "../notify/outbound.js";
import { startHttpServer } from "../observability/http-server.js";
import type { Logger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import { type SlackOptions, startSlack } from "../slack/slack-integration.js";
import { GATEWAY_API_GROUP, GATEWAY_API_VERSION, type HttpRoute } from "../traffic/gateway-api/route.js";
import { GatewayApiRouter } from "../traffic/gateway-api/router.js";
import { NginxIngressRouter } from "../traffic/nginx/router.js";
import { Routers, UnavailableRouter } from "../traffic/routers.js";
import { LeaderElector } from "./leader-election.js";
import { type Caches, Reconciler } from "./reconciler.js";
import { ShardCoordinator } from "./shard-coordinator.js";

export interface OperatorOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  prometheusUrl?: string;
  port: number;
  host?: string;
  concurrency?: number;
  resyncMs?: number;
  /** Only the holder of this Lease reconciles; undefined: no election (one replica only). */
  leaderElection?: { namespace: string; name: string; identity: string };
  /** Replicas split the Rollouts among themselves, shard by shard (src/controller/shard-plan.ts);
   * replaces leaderElection. */
  sharding?: { namespace: string; name: string; identity: string; shards: number };
  /** Act only on Rollouts in these namespaces (empty or undefined: all). */
  watchNamespaces?: string[];
  /** Called when leadership is lost: the process should stop (a new one rejoins as standby). */
  onLostLeadership?: () => void;
  /** Slack approval messages, clicks and notifications; undefined: no Slack. */
  slack?: SlackOptions;
  /** Lifecycle CloudEvents go to this URL (binary mode); undefined: none. */
  cloudEventsSink?: string;
  /** Named in every message and event, so a shared channel tells clusters apart. */
  clusterName?: string;
  /** Requests a second (and at once) to the API server, like client-go's QPS and burst. */
  kubeQps?: number;
  kubeBurst?: number;
  /** Queries a second to Prometheus, across all analyses. */
  prometheusQps?: number;
}

export interface RunningOperator {
  port: number;
  stop(): Promise<void>;
}

const keyOf = (o: k8s.KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** Whether the API server serves gateway.networking.k8s.io/v1 (the Gateway API CRDs are installed). */
async function servesGatewayApi(kc: k8s.KubeConfig, log: Logger): Promise<boolean> {
  try {
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    const served = groups.groups.some((g) => g.name === GATEWAY_API_GROUP && g.versions.some((v) => v.version === GATEWAY_API_VERSION));
    log.info(served ? "Gateway API found: HTTPRoutes are watched" : "Gateway API not served: gatewayAPI routing is unavailable");
    return served;
  } catch (err) {
    log.warn("could not list API groups; assuming no Gateway API", { error: String(err) });
    return false;
  }
}

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { log } = options;
  const kc = reuseConnections(options.kc);
  const metrics = createMetrics();
  const kube = new Kube(kc, metrics, new TokenBucket(options.kubeQps ?? 20, options.kubeBurst ?? 40));
  const managed = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
  // The Gateway API is an add-on: HTTPRoutes are watched only where the cluster serves them.
  const gatewayApi = await servesGatewayApi(kc, log);

  let queue: WorkQueue | undefined;
  let outbound: Outbound | undefined;
  // A standby keeps its caches warm but queues nothing until it leads; a sharded replica queues
  // only the Rollouts of the shards it holds.
  let leading = options.leaderElection === undefined;
  let shards: ShardCoordinator | undefined;
  // Sharded, nothing is ours before the coordinator holds a shard (not even the Rollouts that the
  // caches hand over while they fill, before the coordinator starts).
  const owns = (key: string) => (options.sharding ? (shards?.owns(key) ?? false) : leading);
  const allowed = new Set(options.watchNamespaces ?? []);
  /** `resync`: nothing seen to change, so after every Rollout that has something to do (src/kube/work-queue.ts). */
  const enqueue = (key: string, resync = false) => {
    if (allowed.size > 0 && !allowed.has(key.split("/")[0] ?? "")) return;
    if (!owns(key)) return;
    if (resync) queue?.addLow(key);
    else queue?.add(key);
    outbound?.kick(key);
  };
  // Child objects carry the Rollout's name in a label; what a Rollout names (its Ingress or
  // HTTPRoute, policy, referenced Deployment, a user's Service of its name) is found through the index.
  const index = new ReferenceIndex();
  const refsOf = (r: Rollout): string[] => {
    const ns = r.metadata.namespace;
    const workload = r.spec.workloadRef?.name ?? r.status?.workload?.name;
    return [
      ...(r.spec.traffic.nginx ? [ref("Ingress", ns, r.spec.traffic.nginx.ingress)] : []),
      ...(r.spec.traffic.gatewayAPI ? [ref("HTTPRoute", ns, r.spec.traffic.gatewayAPI.httpRoute)] : []),
      ...(r.spec.analysis ? [ref("AnalysisPolicy", ns, r.spec.analysis.policy)] : []),
      ...(workload ? [ref("Deployment", ns, workload), ref("Service", ns, r.metadata.name)] : []),
    ];
  };
  const byOwnerLabel = {
    onChange: (o: k8s.KubernetesObject, resync?: boolean) => {
      const rollout = o.metadata?.labels?.[LABEL_ROLLOUT];
      if (rollout) enqueue(`${o.metadata?.namespace}/${rollout}`, resync);
    },
    onDelete: (o: k8s.KubernetesObject) => byOwnerLabel.onChange(o),
  };
  /** Handlers for a kind that Rollouts name: Fledge's own objects by label, the others by the index. */
  const named = (kind: string) => {
    const handler = (o: k8s.KubernetesObject, resync?: boolean) => {
      if (o.metadata?.labels?.[LABEL_ROLLOUT]) return byOwnerLabel.onChange(o, resync);
      for (const key of index.lookup(ref(kind, o.metadata?.namespace, o.metadata?.name))) enqueue(key, resync);
    };
    return { onChange: handler, onDelete: handler };
  };
  const rolloutHandlers = {
    onChange: (r: Rollout, resync?: boolean) => {
      index.set(keyOf(r), refsOf(r));
      enqueue(keyOf(r), resync);
    },
    // The others naming the same route may now be served (the oldest claimant wins, src/traffic/router.ts).
    onDelete: (r: Rollout) => {
      const key = keyOf(r);
      const refs = index.refs(key);
      index.remove(key);
      enqueue(key);
      for (const other of refs.flatMap((x) => index.lookup(x))) enqueue(other);
    },
  };
  const namespaces = options.watchNamespaces ?? [];
  // Only the Rollouts resync: a Rollout's reconcile reads all it owns and names from the caches,
  // so handing those objects over again too would only queue each Rollout again for each of them.
  const scoped = <T extends k8s.KubernetesObject>(
    name: string,
    resource: { apiVersion: string; kind: string; plural: string },
    handlers: WatchHandlers<T>,
    labelSelector?: string,
  ) => new ScopedWatcher<T>({ name, kc, log, metrics, resyncMs: 0, resource, namespaces, handlers, labelSelector });
  const rollouts = new ScopedWatcher<Rollout>({
    name: "rollouts",
    kc,
    log,
    metrics,
    resyncMs: options.resyncMs,
    resource: { apiVersion: `${GROUP}/${VERSION}`, kind: "Rollout", plural: "rollouts" },
    namespaces,
    handlers: rolloutHandlers,
  });
  // Only Fledge's: the EndpointSlice controller copies the Service's labels onto its slices.
  const slicesByService = new LabelIndex<k8s.V1EndpointSlice>("kubernetes.io/service-name");
  const endpointSlices = scoped<k8s.V1EndpointSlice>(
    "endpointslices",
    { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", plural: "endpointslices" },
    slicesByService.handlers(byOwnerLabel),
    managed,
  );
  const caches = {
    rollouts,
    // All of them in scope: a Rollout's workloadRef names a Deployment of the user's, not labelled by us.
    deployments: scoped<k8s.V1Deployment>(
      "deployments",
      { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments" },
      named("Deployment"),
    ),
    // All of them in scope: with a workloadRef, the stable Service may be the user's own.
    services: scoped<k8s.V1Service>("services", { apiVersion: "v1", kind: "Service", plural: "services" }, named("Service")),
    // All Ingresses in scope: the user's Ingress is not labelled by us, and a missing one must be noticed when it appears.
    ingresses: scoped<k8s.V1Ingress>(
      "ingresses",
      { apiVersion: "networking.k8s.io/v1", kind: "Ingress", plural: "ingresses" },
      named("Ingress"),
    ),
    policies: scoped<AnalysisPolicy>(
      "analysispolicies",
      { apiVersion: `${GROUP}/${VERSION}`, kind: "AnalysisPolicy", plural: "analysispolicies" },
      named("AnalysisPolicy"),
    ),
    ...(gatewayApi
      ? {
          httpRoutes: scoped<HttpRoute & k8s.KubernetesObject>(
            "httproutes",
            { apiVersion: `${GATEWAY_API_GROUP}/${GATEWAY_API_VERSION}`, kind: "HTTPRoute", plural: "httproutes" },
            named("HTTPRoute"),
          ),
        }
      : {}),
  };
  // The Rollouts first (see the start below).
  const watchers = [...Object.values(caches), endpointSlices] as Array<ScopedWatcher<k8s.KubernetesObject>>;
  const rolloutsNaming = {
    naming: (kind: string, namespace: string, name: string) =>
      index
        .lookup(ref(kind, namespace, name))
        .map((key) => rollouts.get(key.slice(key.indexOf("/") + 1), namespace))
        .filter((r): r is Rollout => r !== undefined),
  };
  const routers = new Routers(
    new NginxIngressRouter(kube, caches.ingresses, rolloutsNaming),
    caches.httpRoutes
      ? new GatewayApiRouter(kube, caches.httpRoutes, rolloutsNaming)
      : new UnavailableRouter(
          "gatewayAPI",
          "GatewayAPINotInstalled",
          `the cluster does not serve ${GATEWAY_API_GROUP}/${GATEWAY_API_VERSION} HTTPRoutes: install the Gateway API CRDs and a Gateway controller, then restart the operator`,
        ),
  );

  const cluster = options.clusterName ?? "kubernetes";
  const scope = { cluster, manages: (namespace: string) => allowed.size === 0 || allowed.has(namespace) };
  const slack = options.slack ? await startSlack(options.slack, { kc, kube, log, metrics, scope }) : undefined;
  outbound = new Outbound({
    kube,
    rollouts: caches.rollouts,
    slack: () => slack?.botClient(),
    slackEnabled: slack !== undefined,
    cloudEvents: options.cloudEventsSink ? new CloudEventsSink(options.cloudEventsSink) : undefined,
    cluster,
    log,
    metrics,
    owns,
  });

  // Analyses read in batches, off the reconcile path (src/analysis/batched-sampler.ts).
  const sampler = new BatchedSampler(
    new PrometheusReader(5000, new TokenBucket(options.prometheusQps ?? 50, Math.ceil(options.prometheusQps ?? 50))),
    {
      onReady: (key) => queue?.add(key),
      warn: (message, meta) => log.warn(message, meta),
      onBatch: (rollouts, requests) => {
        metrics.analysisBatchRollouts.observe(rollouts);
        metrics.analysisBatchRequests.inc(requests);
      },
    },
  );
  const reconciler = new Reconciler({
    kube,
    caches: {
      ...caches,
      endpointSlices: { ofService: (namespace, service) => slicesByService.of(endpointSlices, namespace, service) },
    } satisfies Caches,
    sampler,
    endpoints: new PrometheusEndpoints(kube.secretSource()),
    routers,
    defaultPrometheusUrl: options.prometheusUrl,
    log,
    metrics,
    wantsNotices: (rollout) => outbound?.wantsNotices(rollout) ?? false,
    owns,
  });
  queue = new WorkQueue(
    async (key) => {
      const end = metrics.reconcileTime.startTimer({ controller: "rollout" });
      const startedAt = Date.now();
      try {
        const result = await reconciler.reconcile(key);
        // Who reconciled what, when: the sharding tests check from these that no Rollout is ever
        // reconciled by two replicas at once.
        log.debug("reconciled", { key, startedAt, endedAt: Date.now() });
        metrics.reconcileTotal.inc({ controller: "rollout", result: result.requeueAfterMs !== undefined ? "requeue_after" : "success" });
        return result;
      } catch (err) {
        metrics.reconcileTotal.inc({ controller: "rollout", result: "error" });
        metrics.reconcileErrors.inc({ controller: "rollout" });
        throw err;
      } finally {
        end();
        metrics.workqueueDepth.set({ name: "rollout" }, queue?.depth() ?? 0);
      }
    },
    options.concurrency ?? 4,
    (key, err) => log.error("reconcile failed", { key, error: err instanceof Error ? err.message : String(err) }),
    owns,
  );

  // Children and policies first, so the first reconcile of each Rollout sees a full cache.
  for (const w of watchers.slice(1)) await w.start();
  await rollouts.start();
  const http = await startHttpServer({
    port: options.port,
    host: options.host,
    registry: metrics.registry,
    ready: () => watchers.every((w) => w.synced),
    routes: slack ? [slack.route] : [],
  });
  slack?.start();
  metrics.leader.set(leading ? 1 : 0);
  let elector: LeaderElector | undefined;
  if (options.sharding) {
    const inShard = (shard: number) => (key: string) => shards?.shardOf(key) === shard;
    const letGo = async (shard: number) => {
      metrics.shardHeld.set({ shard: String(shard) }, 0);
      await queue?.drop(inShard(shard));
      await outbound?.drop(inShard(shard));
      // Its Rollouts' series are reported by their new owner from now on.
      for (const r of caches.rollouts.list()) if (inShard(shard)(keyOf(r))) reconciler.forget(keyOf(r));
    };
    shards = new ShardCoordinator({
      kc,
      log,
      ...options.sharding,
      onAcquired: (shard) => {
        metrics.shardHeld.set({ shard: String(shard) }, 1);
        for (const r of caches.rollouts.list()) if (inShard(shard)(keyOf(r))) enqueue(keyOf(r), true);
      },
      onReleasing: letGo,
      onLost: (shard) => void letGo(shard),
    });
    shards.start();
  } else if (options.leaderElection) {
    elector = new LeaderElector({
      kc,
      log,
      ...options.leaderElection,
      onStartedLeading: () => {
        leading = true;
        metrics.leader.set(1);
        for (const w of watchers) w.resync();
      },
      onStoppedLeading: () => {
        leading = false;
        metrics.leader.set(0);
        options.onLostLeadership?.();
      },
    });
    elector.start();
  }
  log.info("operator started", {
    port: http.port,
    prometheus: options.prometheusUrl,
    leaderElection: options.leaderElection ?? "off",
    sharding: options.sharding ? `${options.sharding.shards} shards, ${options.sharding.namespace}/${options.sharding.name}` : "off",
    slack: options.slack
      ? `${options.slack.secretNamespace}/${options.slack.secretName}${options.slack.socketMode ? " (Socket Mode)" : ""}`
      : "off",
    cloudEvents: options.cloudEventsSink ?? "off",
    cluster: options.clusterName ?? "kubernetes",
  });

  return {
    port: http.port,
    async stop() {
      // Shards first: each is drained here and handed over at once, not after its lease expires.
      await shards?.stop();
      await outbound?.stop();
      await slack?.stop();
      await queue?.shutdown();
      sampler.stop();
      await elector?.stop();
      for (const w of watchers) await w.stop();
      await http.close();
      log.info("operator stopped");
    },
  };
}
