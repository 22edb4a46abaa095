// The NGINX-annotation canary route as plain data (pure): a copy of the user's Ingress pointing
// at the canary Service, with ingress-nginx's canary annotations. Only this module and the
// router beside it know these names.
import type { V1Ingress } from "@kubernetes/client-node";
import { canaryServiceName, stableServiceName } from "../../api/names.js";
import type { HeaderRoute, Rollout } from "../../api/types.js";
import { managedLabels, ownerReference } from "../../kube/objects.js";

export const NGINX_CANARY = "nginx.ingress.kubernetes.io/canary";
export const NGINX_CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight";
/** On the canary Ingress: which user Ingress it was cloned from. */
export const ANNOTATION_CLONED_FROM = "fledge.dev/cloned-from";
export const canaryIngressName = (userIngress: string) => `${userIngress}-canary`;
const NGINX_CANARY_BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header";
const NGINX_CANARY_BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value";
const NGINX_CANARY_BY_HEADER_PATTERN = "nginx.ingress.kubernetes.io/canary-by-header-pattern";
/** On the canary Ingress: the name of the header preview route its canary-by-header annotations carry. */
export const ANNOTATION_HEADER_ROUTE = "fledge.dev/header-route";

/** ingress-nginx's canary-by-header annotations for a preview route (one header: NGINX takes one). */
export function headerRouteAnnotations(route: HeaderRoute | undefined): Record<string, string> {
  const match = route?.match?.[0];
  if (!route || !match) return {};
  return {
    [ANNOTATION_HEADER_ROUTE]: route.name,
    [NGINX_CANARY_BY_HEADER]: match.header,
    [match.type === "RegularExpression" ? NGINX_CANARY_BY_HEADER_PATTERN : NGINX_CANARY_BY_HEADER_VALUE]: match.value,
  };
}

/** The preview route a canary Ingress carries now, read back from its annotations. */
export function headerRouteOf(ingress: V1Ingress | undefined): HeaderRoute | undefined {
  const a = ingress?.metadata?.annotations ?? {};
  const name = a[ANNOTATION_HEADER_ROUTE];
  const header = a[NGINX_CANARY_BY_HEADER];
  if (!name || !header) return undefined;
  const pattern = a[NGINX_CANARY_BY_HEADER_PATTERN];
  return {
    name,
    match: [
      pattern !== undefined
        ? { header, value: pattern, type: "RegularExpression" }
        : { header, value: a[NGINX_CANARY_BY_HEADER_VALUE] ?? "" },
    ],
  };
}

/**
 * The canary Ingress: the user's rules with every backend that points at the stable Service
 * redirected to the canary Service, plus ingress-nginx's canary annotations. The user's
 * Ingress is only read, never edited.
 */
export function canaryIngressFor(rollout: Rollout, userIngress: V1Ingress, weight: number, headerRoute?: HeaderRoute): V1Ingress {
  const name = rollout.metadata.name ?? "";
  const stable = stableServiceName(name);
  const canary = canaryServiceName(name);
  const spec = structuredClone(userIngress.spec ?? {});
  const redirect = (backend: { service?: { name: string } } | undefined) => {
    if (backend?.service?.name === stable) backend.service.name = canary;
  };
  redirect(spec.defaultBackend);
  for (const rule of spec.rules ?? []) for (const path of rule.http?.paths ?? []) redirect(path.backend);
  // TLS secrets stay with the user's Ingress: ingress-nginx takes TLS from the main Ingress.
  delete spec.tls;
  const userAnnotations = Object.fromEntries(
    Object.entries(userIngress.metadata?.annotations ?? {}).filter(
      ([k]) => !k.startsWith("nginx.ingress.kubernetes.io/canary") && k !== "kubectl.kubernetes.io/last-applied-configuration",
    ),
  );
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: `${userIngress.metadata?.name}-canary`,
      namespace: rollout.metadata.namespace,
      labels: managedLabels(rollout, "canary"),
      annotations: {
        ...userAnnotations,
        [NGINX_CANARY]: "true",
        [NGINX_CANARY_WEIGHT]: String(weight),
        [ANNOTATION_CLONED_FROM]: userIngress.metadata?.name ?? "",
        ...headerRouteAnnotations(headerRoute),
      },
      ownerReferences: [ownerReference(rollout)],
    },
    spec,
  };
}

export function weightOf(ingress: V1Ingress | undefined): number | undefined {
  const raw = ingress?.metadata?.annotations?.[NGINX_CANARY_WEIGHT];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}
