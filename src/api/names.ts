// Names and labels of the objects the operator manages for a Rollout (product.md).
export const LABEL_ROLLOUT = "fledge.dev/rollout";
export const LABEL_TRACK = "fledge.dev/track";
export const LABEL_REVISION = "fledge.dev/revision";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "fledge";
export const FIELD_MANAGER = "fledge-operator";

/** The action annotation: promote | promote-full | abort | retry (see src/controller/user-actions.ts). */
export const ANNOTATION_ACTION = "fledge.dev/action";

export type Track = "stable" | "canary";

export const stableDeploymentName = (rollout: string) => `${rollout}-stable`;
export const canaryDeploymentName = (rollout: string) => `${rollout}-canary`;
export const stableServiceName = (rollout: string) => rollout;
export const canaryServiceName = (rollout: string) => `${rollout}-canary`;

export function selectorLabels(rollout: string, track: Track): Record<string, string> {
  return { [LABEL_ROLLOUT]: rollout, [LABEL_TRACK]: track };
}

/** On a Rollout with a workloadRef: its deletion waits until the Deployment is handed back and the
 * routing reverted (src/controller/state-machine.ts, release). */
export const FINALIZER_RELEASE = "fledge.dev/release-workload";
/** On an adopted Deployment: the Rollout that releases it (owned by FIELD_MANAGER, with spec.paused). */
export const ANNOTATION_ADOPTED_BY = "fledge.dev/rollout";
/** On a Deployment handed back still paused: why, and how to resume it. */
export const ANNOTATION_LEFT_PAUSED = "fledge.dev/left-paused";
