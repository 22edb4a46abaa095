// The imperative shell around the state machine: observe (from the informer caches, and
// Prometheus when a sample is due), decide (pure), apply the actions in order, write status
// (with optimistic concurrency), record Events. Writes happen only where the cluster differs
// from what is wanted, so an idle Healthy Rollout causes no API writes.
import { randomBytes } from "node:crypto";
import type { KubernetesObject, V1Deployment, V1EndpointSlice, V1Ingress, V1Service } from "@kubernetes/client-node";
import type { Sample } from "../analysis/analysis-tick.js";
import { type AnalysisSettings, analysisSettings } from "../analysis/checks.js";
import { type PrometheusEndpoints, SecretProblem } from "../analysis/prometheus-endpoint.js";
import { armVariables, type PrometheusEndpoint, renderQuery } from "../analysis/prometheus-reader.js";
import type { AnalysisSampler, PreviousCounters, SampleRequest } from "../analysis/sampling.js";
import {
  ANNOTATION_ACTION,
  canaryDeploymentName,
  canaryServiceName,
  FINALIZER_RELEASE,
  LABEL_MANAGED_BY,
  LABEL_REVISION,
  MANAGED_BY,
  stableDeploymentName,
  stableServiceName,
} from "../api/names.js";
import { templateRevision } from "../api/revision.js";
import type { AnalysisPolicy, AnalysisStatus, Rollout, RolloutStatus } from "../api/types.js";
import { apiProblem, isConflict, type Kube } from "../kube/client.js";
import { canonicalJson } from "../kube/compare.js";
import { deploymentFor, serviceFor } from "../kube/objects.js";
import type { Watcher } from "../kube/watcher.js";
import type { WorkResult } from "../kube/work-queue.js";
import { noticesFor, withNotices } from "../notify/lifecycle.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { HttpRoute } from "../traffic/gateway-api/route.js";
import type { TrafficRouter } from "../traffic/router.js";
import type { Routers } from "../traffic/routers.js";
import {
  adoptionApply,
  adoptionHolds,
  canaryTemplateOf,
  handBackApply,
  podSelector,
  referencedRevision,
  selectorString,
  stableViewOf,
  wantsPaused,
} from "../workload/referenced-deployment.js";
import { setCondition } from "./conditions.js";
import {
  type ControllerAction,
  type Decision,
  type DeploymentView,
  decide,
  type ObservedState,
  type PolicyView,
  type RolloutView,
  wantsSample,
} from "./state-machine.js";
import { CHECKPOINT_MS, decisions } from "./status-checkpoint.js";
import { parseUserAction } from "./user-actions.js";

/** A cache of one kind of object, read without an API call (src/kube/watcher.ts is the real one). */
export type ObjectStore<T extends KubernetesObject> = Pick<Watcher<T>, "get" | "list">;

export interface Caches {
  rollouts: ObjectStore<Rollout>;
  /** Fledge's Deployments and the ones Rollouts reference (spec.workloadRef). */
  deployments: ObjectStore<V1Deployment>;
  /** Fledge's Services, and a user's Service a referenced Deployment's Rollout is named after. */
  services: ObjectStore<V1Service>;
  ingresses: ObjectStore<V1Ingress>;
  policies: ObjectStore<AnalysisPolicy>;
  /** Only when the cluster serves the Gateway API. */
  httpRoutes?: ObjectStore<HttpRoute & KubernetesObject>;
  /** The EndpointSlices of Fledge's Services (they carry the Service's labels), found by the
   * Service they serve (src/kube/label-index.ts is the real one). */
  endpointSlices?: { ofService(namespace: string, service: string): readonly V1EndpointSlice[] };
}

/** The writes a reconcile makes (src/kube/client.ts is the real one): narrow, so a unit test can
 * check their order and failures with an in-memory fake. */
export type ClusterWriter = Pick<Kube, "apply" | "mergePatch" | "removeAnnotationIfEquals" | "replaceRolloutStatus" | "event">;

/** Ready endpoints of a Service's port across its EndpointSlices (an unset `ready` counts as
 * ready, per the API). Pods where a named targetPort matches no container port still get an
 * endpoint, in a slice without that port: nothing can be sent to those, so they do not count. */
export function readyEndpoints(slices: readonly V1EndpointSlice[], service: string, portName: string): number {
  return slices
    .filter((slice) => slice.metadata?.labels?.["kubernetes.io/service-name"] === service)
    .filter((slice) => (slice.ports ?? []).some((p) => (p.name ?? "") === portName && p.port !== undefined))
    .reduce((sum, slice) => sum + (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length, 0);
}

export interface ReconcilerDeps {
  kube: ClusterWriter;
  caches: Caches;
  /** Takes analysis samples: at once (InlineSampler), or with the next batch (BatchedSampler),
   * which reconciles the Rollout again when its sample is in. */
  sampler: AnalysisSampler;
  /** Resolves a policy's address, headers and TLS, reading the Secrets it names. */
  endpoints: Pick<PrometheusEndpoints, "resolve">;
  /** The traffic routers; each Rollout's spec.traffic picks one. */
  routers: Routers;
  defaultPrometheusUrl?: string;
  log: Logger;
  metrics: Metrics;
  now?: () => Date;
  /** Whether lifecycle notices of a Rollout go anywhere (Slack thread, CloudEvents sink). */
  wantsNotices?: (rollout: Rollout) => boolean;
  /** Whether this replica may still act on the Rollout (sharding's fence); checked before every write. */
  owns?: (key: string) => boolean;
}

export function deploymentView(d: V1Deployment | undefined): DeploymentView | undefined {
  if (!d) return undefined;
  const replicas = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  const rolledOut = (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1);
  const available =
    rolledOut && (st.updatedReplicas ?? 0) >= replicas && (st.availableReplicas ?? 0) >= replicas && (st.unavailableReplicas ?? 0) === 0;
  return { revision: d.spec?.template?.metadata?.labels?.[LABEL_REVISION], replicas, available };
}

/** How long a reconcile waits for the cache to show this process' own last status write. */
const CACHE_LAG_MS = 2000;

const PHASES = ["Initializing", "Healthy", "Progressing", "Paused", "Promoting", "Degraded"] as const;
const OUTCOMES = ["baseline", "pass", "continue", "inconclusive", "fail", "error", "stop"] as const;

/** Each counter check's last snapshot, for telling history from new counts (PrometheusReader.baselinesOf). */
function previousCounters(analysis: AnalysisStatus | undefined): PreviousCounters {
  const previous: PreviousCounters = {};
  for (const check of analysis?.checks ?? []) {
    const last = check.lastCounters;
    if (last?.evaluatedAt === undefined) continue;
    const { evaluatedAt, ...counters } = last;
    previous[check.name] = { counters, evaluatedAt };
  }
  return previous;
}

export class Reconciler {
  /** key → resourceVersion our last status write replaced (and when): a cache still at it is stale. */
  private readonly replacedVersion = new Map<string, { resourceVersion: string; at: number }>();
  /** key → a decided status that changed only running figures, not yet written (status-checkpoint.ts),
   * and the resourceVersion of the Rollout it was decided from. */
  private readonly unwritten = new Map<string, { status: RolloutStatus; basedOn: string }>();
  /** key → when this process last wrote the Rollout's status. */
  private readonly lastWrittenAt = new Map<string, number>();

  constructor(private readonly deps: ReconcilerDeps) {}

  private router(rollout: Rollout): TrafficRouter {
    return this.deps.routers.for(rollout);
  }

  async reconcile(key: string): Promise<WorkResult> {
    const [namespace, name] = key.split("/") as [string, string];
    const rollout = this.deps.caches.rollouts.get(name, namespace);
    const handsBack = rollout?.metadata.finalizers?.includes(FINALIZER_RELEASE) ?? false;
    if (!rollout || (rollout.metadata.deletionTimestamp && !handsBack)) {
      this.forget(key);
      // Deleted or being deleted: ownerReferences let the garbage collector remove what we made.
      // A Rollout that adopted a Deployment waits on FINALIZER_RELEASE until it is handed back.
      return {};
    }
    // Deciding from a cache that has not seen our own last status write would repeat moves and
    // Events; wait for it (optimistic concurrency on the write covers the rest). The watch event
    // that brings the write enqueues the Rollout at once; the requeue is only the fallback. (It
    // was a 100 ms poll: on a busy API server, whose watch lags by a second or more, 500
    // progressing Rollouts filled the work queue with these polls and every real reconcile
    // waited behind them: docs/benchmarks.md, "Busy".)
    const replaced = this.replacedVersion.get(key);
    const waitedMs = replaced ? Date.now() - replaced.at : 0;
    if (replaced && replaced.resourceVersion === rollout.metadata.resourceVersion && waitedMs < CACHE_LAG_MS)
      return { requeueAfterMs: CACHE_LAG_MS - waitedMs };

    const now = this.deps.now?.() ?? new Date();
    const referenced = this.referencedDeployment(rollout);
    const view: RolloutView = {
      name,
      namespace,
      generation: rollout.metadata.generation ?? 0,
      revision: this.desiredRevision(rollout),
      replicas: rollout.spec.workloadRef ? (referenced?.spec?.replicas ?? 1) : rollout.spec.replicas,
      spec: rollout.spec,
      status: this.statusToDecideFrom(key, rollout),
      ...(rollout.metadata.deletionTimestamp ? { deleting: true } : {}),
      ...(rollout.spec.workloadRef && referenced ? { stableSelector: selectorString(podSelector(referenced)) } : {}),
    };
    const observed = this.observe(rollout);
    observed.entropy = randomBytes(16).toString("hex");
    // Credentials are checked before any canary moves: a missing Secret holds the Rollout with a
    // condition that names it, instead of failing its first analysis interval.
    let endpoint: PrometheusEndpoint | undefined;
    const policySpec = rollout.spec.analysis ? this.deps.caches.policies.get(rollout.spec.analysis.policy, namespace)?.spec : undefined;
    if (observed.policy?.found && policySpec) {
      try {
        endpoint = await this.deps.endpoints.resolve(namespace, policySpec.prometheus, this.deps.defaultPrometheusUrl);
      } catch (err) {
        const problem = err instanceof SecretProblem ? err.message : apiProblem(err).message;
        observed.policy = {
          found: false,
          reason: "PrometheusCredentials",
          problem: `AnalysisPolicy ${rollout.spec.analysis?.policy}: ${problem}. The canary waits (no promotion) until this is fixed.`,
        };
      }
    }
    if (endpoint && observed.policy?.found && wantsSample(view, observed, now)) {
      const sample = await this.sample(key, rollout, view, endpoint, observed.policy.settings, observed.canaryWeight ?? 0);
      if (sample) observed.sample = sample;
    }
    const decision = decide(view, observed, now);
    if (observed.sample && endpoint && observed.policy?.found)
      this.askAhead(key, rollout, view.revision, decision, endpoint, observed.policy.settings, observed.canaryWeight ?? 0);
    const log = this.deps.log.child({ namespace, name, revision: view.revision, step: decision.status.currentStep });

    // The action annotation is removed only after status records it as handled (handledAction):
    // removing it first would change the Rollout, fail the status write with a conflict, and
    // lose the action.
    const clears = decision.actions.filter((a) => a.kind === "clearActionAnnotation");
    try {
      for (const action of decision.actions) {
        if (action.kind === "clearActionAnnotation") continue;
        if (this.fenced(key)) return {};
        await this.apply(rollout, action, view.revision);
      }
    } catch (err) {
      // Keep the status the decision started from (so the move, and its Events, are decided
      // again on the retry) and say what failed.
      const problem = apiProblem(err);
      const previous = rollout.status ?? {};
      const status: RolloutStatus = {
        ...previous,
        // A Rollout that never got as far as a phase says why in its phase too (kubectl get shows it).
        ...(previous.phase ? {} : { phase: "Initializing", message: `cannot be applied: ${problem.reason}: ${problem.message}` }),
        conditions: setCondition(
          previous.conditions,
          { type: "Reconciled", status: "False", reason: "ApplyFailed", message: `${problem.reason}: ${problem.message}` },
          now,
          view.generation,
        ),
      };
      await this.writeStatus(key, rollout, status).catch(() => undefined);
      log.error("applying the decision failed; retrying with backoff", { error: problem.message, reason: problem.reason });
      throw err;
    }

    let status: RolloutStatus = {
      ...decision.status,
      conditions: (decision.status.conditions ?? []).filter((c) => c.type !== "Reconciled"),
    };
    // Notices ride in the same write as the move they report (src/notify/lifecycle.ts).
    if (this.deps.wantsNotices?.(rollout))
      status = withNotices(
        status,
        noticesFor(rollout.metadata.uid ?? "", decision.transitions, decision.status.analysis ?? view.status?.analysis, now),
      );
    // Only running figures changed, and the last write is recent: they wait for the next checkpoint.
    if (this.mayWait(key, rollout, status, decision, clears.length > 0)) {
      this.unwritten.set(key, { status, basedOn: rollout.metadata.resourceVersion ?? "" });
      this.recordMetrics(rollout, decision);
      return { requeueAfterMs: decision.requeueAfterMs ?? CHECKPOINT_MS };
    }
    this.unwritten.delete(key);
    // The finalizer is gone and the Rollout with it: nothing left to write status to.
    if (decision.actions.some((a) => a.kind === "removeFinalizer")) {
      await this.recordEvents(rollout, decision, log);
      return {};
    }
    if (this.fenced(key)) return {};
    try {
      await this.writeStatus(key, rollout, status);
    } catch (err) {
      if (isConflict(err)) return { requeueAfterMs: 50 };
      throw err;
    }
    for (const clear of clears) await this.apply(rollout, clear, view.revision);
    await this.recordEvents(rollout, decision, log);
    this.recordMetrics(rollout, decision);
    return decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {};
  }

  private observe(rollout: Rollout): ObservedState {
    const { caches } = this.deps;
    const name = rollout.metadata.name ?? "";
    const namespace = rollout.metadata.namespace ?? "";
    const route = this.router(rollout).observe(rollout);
    const referenced = this.referencedDeployment(rollout);
    const workloadName = rollout.spec.workloadRef?.name ?? rollout.status?.workload?.name;
    const observed: ObservedState = {
      stable: rollout.spec.workloadRef
        ? referenced &&
          stableViewOf(
            referenced,
            rollout.status?.stableRevision,
            rollout.status?.phase === "Promoting" ? rollout.status.canaryRevision : undefined,
          )
        : deploymentView(caches.deployments.get(stableDeploymentName(name), namespace)),
      canary: deploymentView(caches.deployments.get(canaryDeploymentName(name), namespace)),
      route: {
        routable: route.routable,
        reason: route.reason,
        message: route.message,
        ...(route.stale ? { stale: true } : {}),
        ...(route.accepted !== undefined ? { accepted: route.accepted } : {}),
        ...(route.acknowledging ? { acknowledging: true } : {}),
        ...(route.headerRoute !== undefined ? { headerRoute: route.headerRoute } : {}),
      },
      canaryWeight: route.weight,
      ...(workloadName
        ? {
            workload: {
              name: workloadName,
              found: referenced !== undefined,
              ...(referenced ? { templateRevision: referencedRevision(referenced) } : {}),
            },
          }
        : {}),
    };
    if (caches.endpointSlices)
      observed.canaryEndpoints = readyEndpoints(
        caches.endpointSlices.ofService(namespace, canaryServiceName(name)),
        canaryServiceName(name),
        rollout.spec.service.portName ?? "http",
      );
    if (rollout.spec.analysis) observed.policy = this.policyView(rollout);
    const action = parseUserAction(rollout.metadata.annotations?.[ANNOTATION_ACTION]);
    if (action && "invalid" in action) observed.invalidAction = action.invalid;
    else if (action) observed.action = action;
    return observed;
  }

  private policyView(rollout: Rollout): PolicyView {
    const policyName = rollout.spec.analysis?.policy ?? "";
    const namespace = rollout.metadata.namespace ?? "";
    const policy = this.deps.caches.policies.get(policyName, namespace);
    if (!policy) {
      return {
        found: false,
        reason: "PolicyNotFound",
        problem: `AnalysisPolicy ${policyName} not found in namespace ${namespace}; apply it (policies/ has ready-made ones). The canary waits until it exists.`,
      };
    }
    try {
      const steps = rollout.spec.strategy.canary.steps;
      const settings = analysisSettings(policy.spec, { analysedSteps: steps.filter((step) => (step.setWeight ?? 0) > 0).length });
      // Every {{placeholder}} must be known before a canary starts, not at its first interval.
      const arms = armVariables(this.queryContext(rollout));
      for (const check of settings.checks) {
        const templates = check.kind === "query" ? [check.query] : [check.queries.requests, check.queries.errors];
        for (const template of templates)
          for (const vars of [arms.stable, arms.canary])
            try {
              renderQuery(template, vars);
            } catch (err) {
              throw new Error(`check ${check.name}: ${(err as Error).message}`);
            }
      }
      return { found: true, settings };
    } catch (err) {
      return { found: false, reason: "InvalidPolicy", problem: `AnalysisPolicy ${policyName}: ${(err as Error).message}` };
    }
  }

  private queryContext(rollout: Rollout) {
    const name = rollout.metadata.name ?? "";
    return {
      namespace: rollout.metadata.namespace ?? "",
      rollout: name,
      ...this.router(rollout).queryVariables(rollout),
      stableService: stableServiceName(name),
      canaryService: canaryServiceName(name),
      ...(rollout.spec.analysis?.args ? { args: rollout.spec.analysis.args } : {}),
    };
  }

  /** `view`: the status decided from (the checkpoint held in memory, if any) and the desired
   * revision. Undefined: the sample is being read; the sampler reconciles the Rollout again. */
  private async sample(
    key: string,
    rollout: Rollout,
    view: RolloutView,
    endpoint: PrometheusEndpoint,
    settings: AnalysisSettings,
    weight: number,
  ): Promise<Sample | undefined> {
    const analysis = view.status.analysis?.revision === view.revision ? view.status.analysis : undefined;
    const sample = await this.deps.sampler.sample(this.sampleRequest(key, rollout, view.revision, analysis, endpoint, settings, weight));
    // How late the sample came after it was due: the analysis' own share of a step's jitter.
    if (sample && analysis?.lastSampleAt)
      this.deps.metrics.sampleLateness.observe(
        Math.max(0, (Date.parse(sample.at) - Date.parse(analysis.lastSampleAt) - settings.intervalMs) / 1000),
      );
    return sample;
  }

  /** Right after a sample was used and the weight stays, the next one is asked for, due one interval
   * on: the batched sampler reads it then and wakes the Rollout, so an analysis costs one
   * reconcile per interval instead of two (one to ask, one to use). */
  private askAhead(
    key: string,
    rollout: Rollout,
    revision: string,
    decision: Decision,
    endpoint: PrometheusEndpoint,
    settings: AnalysisSettings,
    weight: number,
  ): void {
    const s = decision.status;
    const analysis = s.analysis;
    // A new weight changes what the next sample is for: that one is asked for when it is due.
    if (
      decision.actions.some((a) => a.kind === "setWeight") ||
      !analysis?.lastSampleAt ||
      analysis.revision !== revision ||
      s.canaryRevision !== revision
    )
      return;
    if (s.phase === "Promoting" || s.phase === "Degraded" || weight <= 0) return;
    void this.deps.sampler.sample({
      ...this.sampleRequest(key, rollout, revision, analysis, endpoint, settings, weight),
      notBefore: Date.parse(analysis.lastSampleAt) + settings.intervalMs,
    });
  }

  /** What a sample is asked for with: the basis names the analysis state it will be applied to
   * (revision, last sample, weight), so a sample read for another state is never used. */
  private sampleRequest(
    key: string,
    rollout: Rollout,
    revision: string,
    analysis: AnalysisStatus | undefined,
    endpoint: PrometheusEndpoint,
    settings: AnalysisSettings,
    weight: number,
  ): SampleRequest {
    return {
      key,
      basis: `${revision}|${analysis?.lastSampleAt ?? ""}|${weight}`,
      endpoint,
      checks: settings.checks,
      ctx: this.queryContext(rollout),
      previous: previousCounters(analysis),
    };
  }

  /** `revision`: the desired revision this reconcile decided for (a hash of the template: computed once). */
  private async apply(rollout: Rollout, action: ControllerAction, revision: string): Promise<void> {
    const { caches, kube } = this.deps;
    const name = rollout.metadata.name ?? "";
    const namespace = rollout.metadata.namespace ?? "";
    const referenced = this.referencedDeployment(rollout);
    const ref = rollout.spec.workloadRef;
    switch (action.kind) {
      case "ensureServices": {
        // The two are independent: applied together, a new Rollout's first reconcile waits for
        // one round trip less (onboarding thousands at once, docs/benchmarks.md "Idle cost").
        const applies = (["stable", "canary"] as const).map((track) => {
          const desired = serviceFor(rollout, track);
          const current = caches.services.get(desired.metadata?.name ?? "", namespace);
          if (ref && track === "stable") {
            // A Service of that name that the user made (their chart's) is theirs and stays as it
            // is; otherwise Fledge's selects every pod of the referenced Deployment.
            if (current && !this.ownService(current)) return undefined;
            if (!referenced) return undefined;
            if (desired.spec) desired.spec.selector = podSelector(referenced);
          }
          const same =
            current &&
            canonicalJson(current.spec?.selector) === canonicalJson(desired.spec?.selector) &&
            canonicalJson(current.spec?.ports?.map((p) => [p.name, p.port, p.targetPort])) ===
              canonicalJson(desired.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]));
          return same ? undefined : kube.apply(desired);
        });
        await Promise.all(applies);
        return;
      }
      case "ensureStable":
        if (ref) {
          // The user's Deployment scales itself (replicas, HPA); Fledge only pauses and unpauses it.
          if (!referenced) return;
          const paused = wantsPaused(referenced, action.template, rollout.status?.stableRevision);
          if (!adoptionHolds(referenced, name, paused)) await kube.apply(adoptionApply({ name: ref.name, namespace }, name, paused));
          return;
        }
        return this.ensureDeployment(rollout, "stable", action, revision);
      case "ensureCanary":
        return this.ensureDeployment(rollout, "canary", action, revision);
      case "addFinalizer":
        if (!rollout.metadata.finalizers?.includes(FINALIZER_RELEASE))
          await this.setFinalizers(rollout, [...(rollout.metadata.finalizers ?? []), FINALIZER_RELEASE]);
        return;
      case "removeFinalizer":
        await this.setFinalizers(
          rollout,
          (rollout.metadata.finalizers ?? []).filter((f) => f !== FINALIZER_RELEASE),
        );
        return;
      case "handBack":
        await kube.apply(handBackApply({ name: action.deployment, namespace }, action.leftPaused));
        return;
      case "setWeight":
        await this.router(rollout).setWeight(rollout, action.weight);
        return;
      case "setHeaderRoute":
        await this.router(rollout).setHeaderRoute(rollout, action.route);
        return;
      case "clearActionAnnotation":
        try {
          await kube.removeAnnotationIfEquals(rollout, ANNOTATION_ACTION, action.value);
        } catch (err) {
          // 422 (test failed) or 404: someone changed or removed it meanwhile; nothing to do.
          const code = apiProblem(err).code;
          if (code !== 422 && code !== 404 && code !== 409) throw err;
        }
        return;
    }
  }

  /** Fledge's own stable or canary Deployment, at the desired template (or only scaled). */
  private async ensureDeployment(
    rollout: Rollout,
    track: "stable" | "canary",
    action: { template: "desired" | "keep"; replicas: number },
    revision: string,
  ): Promise<void> {
    const { caches, kube } = this.deps;
    const name = rollout.metadata.name ?? "";
    const namespace = rollout.metadata.namespace ?? "";
    const deploymentName = track === "stable" ? stableDeploymentName(name) : canaryDeploymentName(name);
    const current = caches.deployments.get(deploymentName, namespace);
    if (action.template === "desired") {
      const view = deploymentView(current);
      if (view?.revision === revision && view.replicas === action.replicas) return;
      const template = this.desiredTemplate(rollout, track);
      if (!template) return; // the referenced Deployment is gone: the state machine says so
      await kube.apply(deploymentFor(rollout, track, template, revision, action.replicas));
    } else if (current && (current.spec?.replicas ?? 1) !== action.replicas) {
      this.deps.log.debug("scaling a Deployment", {
        deployment: `${namespace}/${deploymentName}`,
        from: current.spec?.replicas,
        to: action.replicas,
      });
      await kube.mergePatch({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: deploymentName, namespace },
        spec: { replicas: action.replicas },
      });
    }
  }

  /** A merge patch of the whole list, guarded by the resourceVersion it was computed from (a list
   * in a merge patch is replaced, so a finalizer someone else added meanwhile must not be lost). */
  private setFinalizers(rollout: Rollout, finalizers: string[]): Promise<unknown> {
    return this.deps.kube.mergePatch({
      apiVersion: rollout.apiVersion,
      kind: "Rollout",
      metadata: {
        name: rollout.metadata.name,
        namespace: rollout.metadata.namespace,
        resourceVersion: rollout.metadata.resourceVersion,
        finalizers,
      },
    });
  }

  /** The Deployment spec.workloadRef names (or the one being handed back), from the cache. */
  private referencedDeployment(rollout: Rollout): V1Deployment | undefined {
    const name = rollout.spec.workloadRef?.name ?? rollout.status?.workload?.name;
    return name ? this.deps.caches.deployments.get(name, rollout.metadata.namespace ?? "") : undefined;
  }

  /** The revision to release: of spec.template, or of the referenced Deployment's template. */
  private desiredRevision(rollout: Rollout): string {
    if (!rollout.spec.workloadRef) return templateRevision(rollout.spec.template ?? {});
    const d = this.referencedDeployment(rollout);
    return d ? referencedRevision(d) : (rollout.status?.currentRevision ?? "");
  }

  /** The pod template a Deployment of Fledge's runs. A referenced Deployment's canary drops the
   * labels the user's selectors use (src/workload/referenced-deployment.ts says why). */
  private desiredTemplate(rollout: Rollout, track: "stable" | "canary") {
    if (!rollout.spec.workloadRef) return rollout.spec.template;
    const d = this.referencedDeployment(rollout);
    if (!d || track === "stable") return undefined;
    const service = this.deps.caches.services.get(stableServiceName(rollout.metadata.name ?? ""), rollout.metadata.namespace ?? "");
    return canaryTemplateOf(d, service && !this.ownService(service) ? service.spec?.selector : undefined);
  }

  private ownService(service: V1Service): boolean {
    return service.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY;
  }

  /** This replica's hold on the Rollout's shard ran out: another may own it by now, so write nothing. */
  private fenced(key: string): boolean {
    if (!this.deps.owns || this.deps.owns(key)) return false;
    this.deps.log.warn("no longer owns this Rollout's shard; dropping the decision unwritten", { key });
    return true;
  }

  /** The status to decide from: the one held in memory (status-checkpoint.ts) while the Rollout is
   * as it was when that was decided; after someone else changed it, theirs, with the analysis'
   * running figures (which only this operator writes) carried over. */
  private statusToDecideFrom(key: string, rollout: Rollout): RolloutStatus {
    const stored = rollout.status ?? {};
    const held = this.unwritten.get(key);
    if (!held) return stored;
    if (held.basedOn === rollout.metadata.resourceVersion) return held.status;
    this.unwritten.delete(key);
    const analysis = held.status.analysis;
    return analysis && stored.analysis?.revision === analysis.revision ? { ...stored, analysis } : stored;
  }

  private mayWait(key: string, rollout: Rollout, status: RolloutStatus, decision: Decision, clearsAnnotation: boolean): boolean {
    if (decision.events.length > 0 || decision.transitions.length > 0 || clearsAnnotation) return false;
    if (decision.requeueAfterMs === undefined || rollout.metadata.deletionTimestamp) return false;
    if (Date.now() - (this.lastWrittenAt.get(key) ?? 0) >= CHECKPOINT_MS) return false;
    return canonicalJson(decisions(status)) === canonicalJson(decisions(rollout.status ?? {}));
  }

  /** A Rollout that is gone (or now another replica's): its memory here and its metric series. */
  forget(key: string): void {
    this.deps.sampler.forget(key);
    this.replacedVersion.delete(key);
    this.unwritten.delete(key);
    this.lastWrittenAt.delete(key);
    const [namespace = "", rollout = ""] = key.split("/");
    const { metrics } = this.deps;
    metrics.rolloutStep.remove({ namespace, rollout });
    metrics.rolloutWeight.remove({ namespace, rollout });
    for (const phase of PHASES) metrics.rolloutPhase.remove({ namespace, rollout, phase });
    for (const outcome of OUTCOMES) metrics.analysisOutcomes.remove({ namespace, rollout, outcome });
  }

  private async writeStatus(key: string, rollout: Rollout, status: RolloutStatus): Promise<void> {
    if (canonicalJson(status) === canonicalJson(rollout.status ?? {})) return;
    const before = rollout.metadata.resourceVersion ?? "";
    const written = await this.deps.kube.replaceRolloutStatus({ ...rollout, status });
    this.lastWrittenAt.set(key, Date.now());
    if (written.metadata.resourceVersion === before) {
      // The API server stored nothing new: some field was pruned by the CRD schema.
      this.deps.log.warn("status write changed nothing on the server; is the installed CRD older than the operator?", { key });
      return;
    }
    this.replacedVersion.set(key, { resourceVersion: before, at: Date.now() });
  }

  private async recordEvents(rollout: Rollout, decision: Decision, log: Logger): Promise<void> {
    for (const event of decision.events) {
      log.log(event.type === "Warning" ? "warn" : "info", event.message, { reason: event.reason });
      await this.deps.kube.event(rollout, event.type, event.reason, event.message).catch((err) => {
        log.warn("could not record an Event", { reason: event.reason, error: apiProblem(err).message });
      });
    }
  }

  private recordMetrics(rollout: Rollout, decision: Decision): void {
    const labels = { namespace: rollout.metadata.namespace ?? "", rollout: rollout.metadata.name ?? "" };
    const { metrics } = this.deps;
    metrics.rolloutStep.set(labels, decision.status.canaryRevision ? (decision.status.currentStep ?? 0) : -1);
    metrics.rolloutWeight.set(labels, decision.status.canaryWeight ?? 0);
    for (const phase of PHASES) {
      metrics.rolloutPhase.set({ ...labels, phase }, decision.status.phase === phase ? 1 : 0);
    }
    if (decision.analysisOutcome) metrics.analysisOutcomes.inc({ ...labels, outcome: decision.analysisOutcome.kind });
  }
}
