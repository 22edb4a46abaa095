// A Deployment the user already has, released in place (spec.workloadRef), as plain data and
// pure functions. The design (docs/concepts.md, "Adopting an existing Deployment"): the user's
// Deployment stays the stable workload and is kept paused between releases, so a change of its
// template rolls nothing out by itself; the canary is a Deployment of Fledge's own built from that
// template; a promotion unpauses the Deployment, which rolls the template out its own way, and it
// is paused again once it has. Fledge owns exactly two fields of it: spec.paused and the
// fledge.dev/rollout annotation (field manager fledge-operator); a GitOps tool that applies the
// rest sees no drift.
import type { V1Deployment, V1PodTemplateSpec } from "@kubernetes/client-node";
import { ANNOTATION_ADOPTED_BY, ANNOTATION_LEFT_PAUSED } from "../api/names.js";
import { templateRevision } from "../api/revision.js";

/** What the state machine needs of the stable side (src/controller/state-machine.ts DeploymentView). */
export interface StableView {
  revision: string | undefined;
  replicas: number;
  available: boolean;
}

/** The revision the Deployment's template asks for now. */
export const referencedRevision = (d: V1Deployment): string => templateRevision(d.spec?.template ?? {});

/** Every pod runs the Deployment's current template and is available. */
export function rolledOut(d: V1Deployment): boolean {
  const replicas = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  return (
    (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (st.updatedReplicas ?? 0) >= replicas &&
    (st.availableReplicas ?? 0) >= replicas &&
    (st.unavailableReplicas ?? 0) === 0
  );
}

/**
 * The stable side as the state machine sees it. A paused Deployment keeps its pods on the revision
 * it last rolled out, whatever its template says now: that is `stableRevision` (from the Rollout's
 * status), and it serves as long as any of its pods does — a scale (an HPA's) is not a release,
 * so it never makes a Healthy Rollout look unavailable. Unpaused (before adoption, or while a
 * promotion rolls out), it runs toward its template and is available once every pod runs it.
 */
export function stableViewOf(d: V1Deployment, stableRevision: string | undefined, promoting: string | undefined): StableView {
  const replicas = d.spec?.replicas ?? 1;
  const template = referencedRevision(d);
  if (d.spec?.paused !== true) {
    // Unpaused with a template nobody promoted (changed while a promotion rolled out): it is not
    // the stable side's revision, so the state machine starts a canary for it and pauses it.
    if (stableRevision !== undefined && template !== stableRevision && template !== promoting)
      return { revision: stableRevision, replicas, available: false };
    return { revision: template, replicas, available: rolledOut(d) };
  }
  if (stableRevision === undefined) return { revision: template, replicas, available: rolledOut(d) };
  const serving = (d.status?.availableReplicas ?? 0) > 0 || replicas === 0;
  return { revision: podsRun(d, stableRevision), replicas, available: serving };
}

/** The revision a paused Deployment's pods run: its template's once it rolled out, else the last one it did. */
const podsRun = (d: V1Deployment, stableRevision: string) => (rolledOut(d) ? referencedRevision(d) : stableRevision);

/**
 * Whether the Deployment should be paused now. "keep": always. "desired": paused, unless its pods
 * do not run its template yet (a promotion, or a roll-out under way when it was adopted): then
 * unpaused until they all do. Only the revisions decide, never a replica count: a scale (an HPA's)
 * makes a Deployment look not rolled out for a moment, and unpausing it then would let the next
 * template change roll out unjudged.
 */
export function wantsPaused(d: V1Deployment, template: "desired" | "keep", stableRevision: string | undefined): boolean {
  if (template === "keep") return true;
  if (d.spec?.paused === true) return stableRevision === undefined || podsRun(d, stableRevision) === referencedRevision(d);
  return rolledOut(d);
}

/** The Deployment's matchLabels as a Service selector (its pods, every ReplicaSet of it). */
export const podSelector = (d: V1Deployment): Record<string, string> => ({ ...(d.spec?.selector?.matchLabels ?? {}) });

export const selectorString = (labels: Record<string, string>): string =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * The canary's pod template: the Deployment's, without the labels its selector and the stable
 * Service select on. Otherwise the user's Deployment (whose selector would then overlap the
 * canary's) and every Service of the app would take the canary's pods for stable ones, and the
 * canary would get traffic beyond its weight.
 */
export function canaryTemplateOf(d: V1Deployment, stableServiceSelector: Record<string, string> | undefined): V1PodTemplateSpec {
  const template = structuredClone(d.spec?.template ?? {});
  const dropped = new Set([...Object.keys(podSelector(d)), ...Object.keys(stableServiceSelector ?? {})]);
  const labels = Object.fromEntries(Object.entries(template.metadata?.labels ?? {}).filter(([k]) => !dropped.has(k)));
  template.metadata = { ...(template.metadata ?? {}), labels };
  return template;
}

/** The fields Fledge owns on the Deployment, as a server-side apply body. */
export function adoptionApply(d: { name: string; namespace: string }, rollout: string, paused: boolean) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: d.name, namespace: d.namespace, annotations: { [ANNOTATION_ADOPTED_BY]: rollout } },
    spec: { paused },
  };
}

/** The apply that hands the Deployment back: owning nothing unpauses it and drops the annotation;
 * left paused, it says why. */
export function handBackApply(d: { name: string; namespace: string }, leftPaused: string | undefined) {
  return leftPaused
    ? {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: d.name, namespace: d.namespace, annotations: { [ANNOTATION_LEFT_PAUSED]: leftPaused } },
        spec: { paused: true },
      }
    : { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: d.name, namespace: d.namespace } };
}

/** Fledge's fields hold what it wants: nothing to write. */
export function adoptionHolds(d: V1Deployment, rollout: string, paused: boolean): boolean {
  return (d.spec?.paused === true) === paused && d.metadata?.annotations?.[ANNOTATION_ADOPTED_BY] === rollout;
}
