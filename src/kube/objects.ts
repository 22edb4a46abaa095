// The objects the operator manages for a Rollout, built as plain data (pure). The reconciler
// compares them with what is in the cluster and writes only the differences.
import type { V1Deployment, V1OwnerReference, V1PodTemplateSpec, V1Service } from "@kubernetes/client-node";
import {
  canaryDeploymentName,
  canaryServiceName,
  LABEL_MANAGED_BY,
  LABEL_REVISION,
  LABEL_ROLLOUT,
  LABEL_TRACK,
  MANAGED_BY,
  selectorLabels,
  stableDeploymentName,
  stableServiceName,
  type Track,
} from "../api/names.js";
import { API_VERSION, type Rollout } from "../api/types.js";

export function ownerReference(rollout: Rollout): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: "Rollout",
    name: rollout.metadata.name ?? "",
    uid: rollout.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function managedLabels(rollout: Rollout, track?: Track): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ROLLOUT]: rollout.metadata.name ?? "", ...(track ? { [LABEL_TRACK]: track } : {}) };
}

/** The pod template with the track and revision labels the Services and the sim rely on. */
export function podTemplateFor(template: V1PodTemplateSpec, rollout: string, track: Track, revision: string): V1PodTemplateSpec {
  const copy = structuredClone(template);
  copy.metadata = {
    ...(copy.metadata ?? {}),
    labels: { ...(copy.metadata?.labels ?? {}), ...selectorLabels(rollout, track), [LABEL_REVISION]: revision },
  };
  return copy;
}

export function deploymentFor(
  rollout: Rollout,
  track: Track,
  template: V1PodTemplateSpec,
  revision: string,
  replicas: number,
): V1Deployment {
  const name = rollout.metadata.name ?? "";
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: track === "stable" ? stableDeploymentName(name) : canaryDeploymentName(name),
      namespace: rollout.metadata.namespace,
      labels: managedLabels(rollout, track),
      ownerReferences: [ownerReference(rollout)],
    },
    spec: {
      replicas,
      // Never fewer ready pods than asked for while a template rolls (a promotion updates the
      // stable Deployment in place): new pods first, old ones only once those are ready.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
      selector: { matchLabels: selectorLabels(name, track) },
      template: podTemplateFor(template, name, track, revision),
    },
  };
}

export function serviceFor(rollout: Rollout, track: Track): V1Service {
  const name = rollout.metadata.name ?? "";
  const port = rollout.spec.service;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: track === "stable" ? stableServiceName(name) : canaryServiceName(name),
      namespace: rollout.metadata.namespace,
      labels: managedLabels(rollout, track),
      ownerReferences: [ownerReference(rollout)],
    },
    spec: {
      selector: selectorLabels(name, track),
      ports: [{ name: port.portName ?? "http", port: port.port, targetPort: port.targetPort ?? port.port, protocol: "TCP" }],
    },
  };
}
