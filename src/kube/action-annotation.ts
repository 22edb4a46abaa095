// The one write a person's action is (src/controller/user-actions.ts): the action annotation on
// the Rollout, by merge patch, exactly as `kubectl annotate … fledge.dev/action=<value>` sets
// it. The CLI and the dashboard both send it, each with the user's own credentials.
import * as k8s from "@kubernetes/client-node";
import { ANNOTATION_ACTION } from "../api/names.js";
import { GROUP, VERSION } from "../api/types.js";

export async function writeActionAnnotation(custom: k8s.CustomObjectsApi, namespace: string, name: string, value: string): Promise<void> {
  await custom.patchNamespacedCustomObject(
    {
      group: GROUP,
      version: VERSION,
      namespace,
      plural: "rollouts",
      name,
      body: { metadata: { annotations: { [ANNOTATION_ACTION]: value } } },
    },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
}
