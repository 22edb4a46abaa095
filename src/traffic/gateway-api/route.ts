// The Gateway API HTTPRoute as Fledge sees it, as plain data and pure functions: which rules it
// manages, the weight the canary gets, whether every parent accepted the route at its current
// generation, and the route with only the two weights changed. The user owns the HTTPRoute:
// nothing else in it is ever touched (rules, matches, filters, timeouts and other backendRefs
// are kept exactly), unlike the peers that rewrote or stripped them — except the one preview
// rule a setHeaderRoute step adds beside the managed rule, and removes again.
import type { HeaderRoute } from "../../api/types.js";

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_API_VERSION = "v1";

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [field: string]: unknown;
}

export interface HttpRouteRule {
  name?: string;
  backendRefs?: BackendRef[];
  [field: string]: unknown;
}

export interface RouteCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export interface HttpRoute {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; generation?: number; resourceVersion?: string; [field: string]: unknown };
  spec?: { parentRefs?: unknown[]; rules?: HttpRouteRule[]; [field: string]: unknown };
  status?: {
    parents?: Array<{
      parentRef?: { name?: string; namespace?: string; sectionName?: string };
      controllerName?: string;
      conditions?: RouteCondition[];
    }>;
  };
}

/** A backendRef that names a core Service (the default kind) in the route's namespace. */
function isService(ref: BackendRef, name: string, routeNamespace: string): boolean {
  return (
    (ref.group ?? "") === "" &&
    (ref.kind ?? "Service") === "Service" &&
    ref.name === name &&
    (ref.namespace ?? routeNamespace) === routeNamespace
  );
}

/** Indexes of the rules Fledge manages: the one named `rule`, else every rule that lists the stable Service. */
export function managedRules(route: HttpRoute, stableService: string, rule?: string): number[] {
  const rules = route.spec?.rules ?? [];
  const ns = route.metadata.namespace ?? "";
  const picked: number[] = [];
  rules.forEach((r, i) => {
    if (rule !== undefined ? r.name === rule : (r.backendRefs ?? []).some((b) => isService(b, stableService, ns))) picked.push(i);
  });
  return picked;
}

export type RuleProblem = { reason: string; message: string };

/** What is wrong with the managed rules, if anything: missing, or without both Services. */
export function ruleProblem(route: HttpRoute, stableService: string, canaryService: string, rule?: string): RuleProblem | undefined {
  const name = route.metadata.name;
  const indexes = managedRules(route, stableService, rule);
  if (indexes.length === 0)
    return rule !== undefined
      ? {
          reason: "RuleNotFound",
          message: `HTTPRoute ${name} has no rule named ${rule}; name the rule (rules[].name) or leave spec.traffic.gatewayAPI.rule out`,
        }
      : {
          reason: "RuleNotFound",
          message: `no rule of HTTPRoute ${name} has Service ${stableService} as a backendRef; add it (and ${canaryService}, weight 0) to the rule to manage`,
        };
  const ns = route.metadata.namespace ?? "";
  for (const i of indexes) {
    const refs = route.spec?.rules?.[i]?.backendRefs ?? [];
    const missing = [stableService, canaryService].filter((svc) => !refs.some((b) => isService(b, svc, ns)));
    if (missing.length > 0)
      return {
        reason: "BackendRefsMissing",
        message: `rule ${route.spec?.rules?.[i]?.name ?? `#${i}`} of HTTPRoute ${name} does not list Service ${missing.join(" and ")} as a backendRef; list both ${stableService} and ${canaryService} (weight 0)`,
      };
  }
  return undefined;
}

/** The canary's weight in percent of the stable+canary pair (other backendRefs aside), per the first managed rule. */
export function canaryWeightOf(route: HttpRoute, stableService: string, canaryService: string, rule?: string): number | undefined {
  const ns = route.metadata.namespace ?? "";
  const [first] = managedRules(route, stableService, rule);
  if (first === undefined) return undefined;
  const refs = route.spec?.rules?.[first]?.backendRefs ?? [];
  const stable = refs.find((b) => isService(b, stableService, ns));
  const canary = refs.find((b) => isService(b, canaryService, ns));
  if (!stable || !canary) return undefined;
  const s = stable.weight ?? 1;
  const c = canary.weight ?? 1;
  return s + c === 0 ? 0 : Math.round((c / (s + c)) * 100);
}

/** The route with the stable and canary weights of every managed rule set to 100 − w and w; nothing else changes. */
export function withWeights(route: HttpRoute, stableService: string, canaryService: string, weight: number, rule?: string): HttpRoute {
  const copy = structuredClone(route);
  const ns = copy.metadata.namespace ?? "";
  for (const i of managedRules(copy, stableService, rule)) {
    for (const ref of copy.spec?.rules?.[i]?.backendRefs ?? []) {
      if (isService(ref, stableService, ns)) ref.weight = 100 - weight;
      else if (isService(ref, canaryService, ns)) ref.weight = weight;
    }
  }
  return copy;
}

/** True when every managed rule already carries exactly these weights. */
export function holdsWeights(route: HttpRoute, stableService: string, canaryService: string, weight: number, rule?: string): boolean {
  return JSON.stringify(withWeights(route, stableService, canaryService, weight, rule).spec) === JSON.stringify(route.spec);
}

export type Acceptance =
  | { accepted: true }
  | {
      accepted: false;
      reason: string;
      message: string;
      /** Every parent accepted an earlier generation and has not reported on this one yet (our
       * own weight write just bumped it): traffic still flows as that generation routes it. */
      acknowledging: boolean;
    };

/**
 * Accepted only when every parent the route reports on says Accepted=True and ResolvedRefs=True
 * for the route's current generation. Accepted does not prove the data plane applied the
 * weights (only traffic does: the sample-ratio check), but short of it nothing is routed.
 * A refusal at the current generation outranks a parent that has not caught up yet.
 */
export function acceptance(route: HttpRoute): Acceptance {
  const generation = route.metadata.generation ?? 0;
  const parents = route.status?.parents ?? [];
  if (parents.length === 0)
    return {
      accepted: false,
      acknowledging: false,
      reason: "RouteNotAccepted",
      message: `no Gateway has accepted HTTPRoute ${route.metadata.name} yet (status.parents is empty): check its parentRefs and that a Gateway controller runs`,
    };
  let pending: { where: string; type: string } | undefined;
  let acceptedBefore = true;
  for (const parent of parents) {
    const where = `parent ${parent.parentRef?.namespace ? `${parent.parentRef.namespace}/` : ""}${parent.parentRef?.name ?? "?"}${parent.parentRef?.sectionName ? `/${parent.parentRef.sectionName}` : ""}`;
    for (const type of ["Accepted", "ResolvedRefs"]) {
      const c = parent.conditions?.find((x) => x.type === type);
      if (!c || (c.observedGeneration ?? 0) < generation) {
        pending ??= { where, type };
        if (c?.status !== "True") acceptedBefore = false;
      } else if (c.status !== "True")
        return {
          accepted: false,
          acknowledging: false,
          reason: c.reason ?? `Not${type}`,
          message: `${where} reports ${type}=${c.status} (${c.reason ?? "no reason"}): ${c.message ?? ""}`.trim(),
        };
    }
  }
  if (pending)
    return {
      accepted: false,
      acknowledging: acceptedBefore,
      reason: "RoutePending",
      message: `${pending.where} has not reported ${pending.type} for generation ${generation} of HTTPRoute ${route.metadata.name} yet`,
    };
  return { accepted: true };
}

// ------------------------------------------------------------------ the header preview route

/** Fledge's own preview rule is named `fledge-<step name>` and sends only to the canary. */
const PREVIEW_PREFIX = "fledge-";

/** The name of the preview route the HTTPRoute carries now (a rule Fledge added), if any. */
export function previewRouteOf(route: HttpRoute, canaryService: string): string | undefined {
  const ns = route.metadata.namespace ?? "";
  const rule = (route.spec?.rules ?? []).find(
    (r) =>
      r.name?.startsWith(PREVIEW_PREFIX) &&
      (r.backendRefs ?? []).length > 0 &&
      (r.backendRefs ?? []).every((b) => isService(b, canaryService, ns)),
  );
  return rule?.name?.slice(PREVIEW_PREFIX.length);
}

/**
 * The rules with the preview route set (or, with no match, removed): a rule beside the first
 * managed one, with its matches each narrowed by the headers, its filters and timeouts, and the
 * canary Service as its only backend. The Gateway API gives the rule with more header matches
 * precedence, so matching requests go to the canary whatever the weights; the others are untouched.
 */
export function rulesWithPreview(
  route: HttpRoute,
  stableService: string,
  canaryService: string,
  preview: HeaderRoute | undefined,
  rule?: string,
): HttpRouteRule[] {
  const ns = route.metadata.namespace ?? "";
  const current = previewRouteOf(route, canaryService);
  const rules = (route.spec?.rules ?? []).filter((r) => !(current !== undefined && r.name === `${PREVIEW_PREFIX}${current}`));
  if (!preview?.match?.length) return rules;
  const at = managedRules({ ...route, spec: { ...route.spec, rules } }, stableService, rule)[0];
  const managed = at !== undefined ? rules[at] : undefined;
  if (!managed) return rules;
  const canaryRef = (managed.backendRefs ?? []).find((b) => isService(b, canaryService, ns));
  const headers = preview.match.map((m) => ({ type: m.type ?? "Exact", name: m.header, value: m.value }));
  const matches = ((managed.matches as Array<Record<string, unknown>> | undefined) ?? [{}]).map((m) => ({
    ...m,
    headers: [...((m.headers as unknown[] | undefined) ?? []), ...headers],
  }));
  const { weight: _weight, ...ref } = canaryRef ?? { name: canaryService };
  const added: HttpRouteRule = {
    ...structuredClone(managed),
    name: `${PREVIEW_PREFIX}${preview.name}`,
    matches,
    backendRefs: [{ ...ref, weight: 1 }],
  };
  return [...rules.slice(0, at), added, ...rules.slice(at)];
}
