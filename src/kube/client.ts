// A thin layer over @kubernetes/client-node 2.x: server-side apply with one field manager,
// merge patches, status replacement with optimistic concurrency, Events, and errors turned
// into readable messages. Every write is counted (fledge_kube_writes_total).
import * as k8s from "@kubernetes/client-node";
import { FIELD_MANAGER } from "../api/names.js";
import { GROUP, type Rollout, VERSION } from "../api/types.js";
import type { Metrics } from "../observability/metrics.js";
import type { TokenBucket } from "./rate-limit.js";

export interface ApiProblem {
  code: number;
  reason: string;
  message: string;
}

/** ApiException.body is a raw string in client-node 2.x: parse it for reason and message. */
export function apiProblem(err: unknown): ApiProblem {
  if (err instanceof k8s.ApiException) {
    let reason = "Unknown";
    let message = String(err.message);
    try {
      const body = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
      reason = body?.reason ?? reason;
      message = body?.message ?? message;
    } catch {
      // not JSON: keep the exception's message
    }
    return { code: err.code, reason, message };
  }
  return { code: 0, reason: "ClientError", message: err instanceof Error ? err.message : String(err) };
}

export type JsonPatchOp = { op: "test" | "add" | "replace"; path: string; value: unknown } | { op: "remove"; path: string };

/** Repeats of one Event within this window update its series instead of adding Events. */
const EVENT_SERIES_WINDOW_MS = 10 * 60_000;

export const isNotFound = (err: unknown) => apiProblem(err).code === 404;
export const isConflict = (err: unknown) => apiProblem(err).code === 409;

export class Kube {
  readonly objects: k8s.KubernetesObjectApi;
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly events: k8s.EventsV1Api;

  constructor(
    readonly kc: k8s.KubeConfig,
    private readonly metrics?: Metrics,
    /** The operator's --kube-qps/--kube-burst: every write waits for a token. */
    private readonly limiter?: TokenBucket,
  ) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.events = kc.makeApiClient(k8s.EventsV1Api);
  }

  /** Every write: waits its turn under the rate limit, and is counted. */
  private async write(verb: string, kind: string): Promise<void> {
    await this.limiter?.take();
    this.metrics?.kubeWrites.inc({ verb, kind });
  }

  /** Server-side apply of a whole object, owned by the operator's field manager. */
  async apply<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    await this.write("apply", object.kind ?? "");
    return this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  /** Reads Secrets one by one by name (the operator has get on exactly the ones it needs). */
  secretSource(): { read(namespace: string, name: string): Promise<Record<string, string>> } {
    return {
      read: async (namespace, name) => {
        this.metrics?.kubeReads.inc({ verb: "get", resource: "secrets" });
        try {
          return (await this.core.readNamespacedSecret({ name, namespace })).data ?? {};
        } catch (err) {
          const p = apiProblem(err);
          if (p.code === 404) throw new Error(`Secret ${name} not found in namespace ${namespace}`);
          if (p.code === 403)
            throw new Error(
              `the operator may not read Secret ${namespace}/${name} (403): grant it get on that Secret (Helm value prometheusSecrets, or a Role with resourceNames)`,
            );
          throw new Error(`could not read Secret ${namespace}/${name}: ${p.message}`);
        }
      },
    };
  }

  /** Creates an object; fails with 409 AlreadyExists if one of that name exists. */
  async create<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    await this.write("create", object.kind ?? "");
    return this.objects.create(object, undefined, undefined, FIELD_MANAGER);
  }

  async mergePatch<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    await this.write("patch", object.kind ?? "");
    return this.objects.patch(object, undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch);
  }

  /** Replaces the Rollout's status; fails with 409 if the Rollout changed since it was read. */
  async replaceRolloutStatus(rollout: Rollout): Promise<Rollout> {
    await this.write("update-status", "Rollout");
    return (await this.custom.replaceNamespacedCustomObjectStatus({
      group: GROUP,
      version: VERSION,
      namespace: rollout.metadata.namespace ?? "",
      plural: "rollouts",
      name: rollout.metadata.name ?? "",
      body: rollout,
    })) as Rollout;
  }

  /** The Rollout as the API server has it now (undefined if it does not exist). */
  async getRollout(namespace: string, name: string): Promise<Rollout | undefined> {
    this.metrics?.kubeReads.inc({ verb: "get", resource: "rollouts" });
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: "rollouts",
        name,
      })) as Rollout;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * A JSON Patch on the Rollout's status. Its `test` operations guard it instead of a
   * resourceVersion, so it lands beside concurrent writes to other fields and fails (422) when
   * the fields it is about changed meanwhile.
   */
  async patchRolloutStatus(rollout: Rollout, ops: JsonPatchOp[]): Promise<Rollout> {
    await this.write("patch-status", "Rollout");
    return (await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: rollout.metadata.namespace ?? "",
        plural: "rollouts",
        name: rollout.metadata.name ?? "",
        body: ops,
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    )) as Rollout;
  }

  /** A JSON Patch on an HTTPRoute (gateway.networking.k8s.io/v1); its `test` ops guard it. */
  async patchHttpRoute(namespace: string, name: string, ops: JsonPatchOp[]): Promise<unknown> {
    await this.write("patch", "HTTPRoute");
    return await this.custom.patchNamespacedCustomObject(
      { group: "gateway.networking.k8s.io", version: "v1", namespace, plural: "httproutes", name, body: ops },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
  }

  /** Removes an annotation only if it still holds `value` (a JSON Patch test guards it). */
  async removeAnnotationIfEquals(rollout: Rollout, key: string, value: string): Promise<void> {
    await this.write("patch", "Rollout");
    const path = `/metadata/annotations/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    await this.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: rollout.metadata.namespace ?? "",
        plural: "rollouts",
        name: rollout.metadata.name ?? "",
        body: [
          { op: "test", path, value },
          { op: "remove", path },
        ],
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    );
  }

  /** Events recorded lately, by object, type and reason, so that a repeat becomes a series. */
  private readonly recentEvents = new Map<string, { name: string; namespace: string; count: number; at: number }>();

  /**
   * Records an Event (events.k8s.io/v1: eventTime has microseconds, so Events keep their order).
   * The same Event (Rollout, type, reason and note) again within 10 minutes updates the first
   * one's series (count, last seen) instead of adding another, as the Kubernetes event recorder
   * does: a condition that repeats must not flood `kubectl get events`. (The state machine
   * itself emits an Event on a change, not on every look: src/controller/state-machine.ts.)
   */
  async event(rollout: Rollout, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const namespace = rollout.metadata.namespace ?? "default";
    const note = message.slice(0, 1024);
    const key = `${rollout.metadata.uid ?? `${namespace}/${rollout.metadata.name}`}/${type}/${reason}/${note}`;
    const seen = this.recentEvents.get(key);
    const now = Date.now();
    if (seen && now - seen.at < EVENT_SERIES_WINDOW_MS) {
      await this.write("patch", "Event");
      seen.count += 1;
      seen.at = now;
      try {
        await this.events.patchNamespacedEvent(
          {
            name: seen.name,
            namespace: seen.namespace,
            body: { series: { count: seen.count, lastObservedTime: new k8s.V1MicroTime() } },
          },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err; // expired meanwhile: record a new one
      }
    }
    await this.write("create", "Event");
    // events.k8s.io refuses a generateName ending in "."; name it as kubelet does: <object>.<hex time>.
    const name = `${rollout.metadata.name}.${process.hrtime.bigint().toString(16)}`;
    await this.events.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        eventTime: new k8s.V1MicroTime(),
        reportingController: "fledge.dev/operator",
        reportingInstance: process.env.HOSTNAME ?? "fledge-operator",
        action: reason,
        reason,
        note,
        type,
        regarding: {
          apiVersion: rollout.apiVersion,
          kind: "Rollout",
          name: rollout.metadata.name,
          namespace,
          uid: rollout.metadata.uid,
          resourceVersion: rollout.metadata.resourceVersion,
        },
      },
    });
    this.recentEvents.set(key, { name, namespace, count: 1, at: now });
    if (this.recentEvents.size > 5000) {
      for (const [k, v] of this.recentEvents) if (now - v.at >= EVENT_SERIES_WINDOW_MS) this.recentEvents.delete(k);
    }
  }
}
