// A thin layer over @kubernetes/client-node 2.x: server-side apply with one field manager,
// merge patches, status replacement with optimistic concurrency, Events, and errors turned
// into readable messages. Every write is counted (fledge_kube_writes_total).
import * as k8s from "@kubernetes/client-node";
import { FIELD_MANAGER } from "../api/names.js";
import { GROUP, type Rollout, VERSION } from "../api/types.js";
import type { Metrics } from "../observability/metrics.js";

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
  ) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.events = kc.makeApiClient(k8s.EventsV1Api);
  }

  private count(verb: string, kind: string): void {
    this.metrics?.kubeWrites.inc({ verb, kind });
  }

  /** Server-side apply of a whole object, owned by the operator's field manager. */
  async apply<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    this.count("apply", object.kind ?? "");
    return this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  async mergePatch<T extends k8s.KubernetesObject>(object: T): Promise<T> {
    this.count("patch", object.kind ?? "");
    return this.objects.patch(object, undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch);
  }

  /** Replaces the Rollout's status; fails with 409 if the Rollout changed since it was read. */
  async replaceRolloutStatus(rollout: Rollout): Promise<Rollout> {
    this.count("update-status", "Rollout");
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
    this.count("patch-status", "Rollout");
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

  /** Removes an annotation only if it still holds `value` (a JSON Patch test guards it). */
  async removeAnnotationIfEquals(rollout: Rollout, key: string, value: string): Promise<void> {
    this.count("patch", "Rollout");
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

  /** Records an Event (events.k8s.io/v1: eventTime has microseconds, so Events keep their order). */
  async event(rollout: Rollout, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    this.count("create", "Event");
    const namespace = rollout.metadata.namespace ?? "default";
    await this.events.createNamespacedEvent({
      namespace,
      body: {
        // events.k8s.io refuses a generateName ending in "."; name it as kubelet does: <object>.<hex time>.
        metadata: { name: `${rollout.metadata.name}.${process.hrtime.bigint().toString(16)}`, namespace },
        eventTime: new k8s.V1MicroTime(),
        reportingController: "fledge.dev/operator",
        reportingInstance: process.env.HOSTNAME ?? "fledge-operator",
        action: reason,
        reason,
        note: message.slice(0, 1024),
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
  }
}
