// Plain-value builders for unit tests of the pure parts.
import type { CheckReading } from "../../src/analysis/analysis-tick.js";
import type { AnalysisSettings, CounterCheckSettings } from "../../src/analysis/checks.js";
import type { CounterSample } from "../../src/analysis/counter-check.js";
import { thresholdJudge } from "../../src/analysis/threshold-judge.js";
import type { RolloutSpec, RolloutStatus } from "../../src/api/types.js";
import type { DeploymentView, ObservedState, RolloutView, RouteView } from "../../src/controller/state-machine.js";

export const T0 = new Date("2026-01-01T00:00:00Z");
export const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

export function spec(overrides: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    replicas: 4,
    template: { metadata: { labels: { app: "checkout" } }, spec: { containers: [{ name: "app", image: "shop/checkout:2" }] } },
    service: { port: 80, targetPort: 8080 },
    traffic: { nginx: { ingress: "checkout" } },
    strategy: { canary: { steps: [{ setWeight: 10 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }] } },
    progressDeadlineSeconds: 120,
    ...overrides,
  };
}

export function rollout(status: RolloutStatus = {}, specOverrides: Partial<RolloutSpec> = {}, revision = "rev2"): RolloutView {
  const full = spec(specOverrides);
  return { name: "checkout", namespace: "shop", generation: 2, revision, replicas: full.replicas, spec: full, status };
}

/** A canary of rev2 over stable rev1, at `currentStep` 1 since t=0 (override any field). */
export function canaryRollout(extra: RolloutStatus = {}, specOverrides: Partial<RolloutSpec> = {}): RolloutView {
  return rollout(
    {
      stableRevision: "rev1",
      canaryRevision: "rev2",
      currentStep: 1,
      stepStartedAt: at(0).toISOString(),
      lastProgressAt: at(0).toISOString(),
      ...extra,
    },
    specOverrides,
  );
}

export const deployment = (revision: string, replicas: number, available = true): DeploymentView => ({ revision, replicas, available });

/** The user's Ingress is there, is this Rollout's, and the canary copy follows it. */
export const ROUTED: RouteView = {
  routable: true,
  reason: "IngressFound",
  message: "canary Ingress checkout-canary matches Ingress checkout",
};

export function observed(overrides: Partial<ObservedState> = {}): ObservedState {
  return { stable: deployment("rev1", 4), route: ROUTED, canaryWeight: 0, ...overrides };
}

type SettingsOverrides = Partial<Omit<AnalysisSettings, "checks">> & Partial<Omit<CounterCheckSettings, "name" | "kind">>;

/** Settings of a policy with one ratio check named error-rate (the errorRate form); policy-level
 * and check-level fields can be overridden alike. */
export function settings(overrides: SettingsOverrides = {}): AnalysisSettings {
  const {
    intervalMs = 10_000,
    noTrafficTimeoutMs = 60_000,
    noTrafficAction = "Abort",
    queryErrorLimit = 3,
    queryErrorAction = "Abort",
    ...check
  } = overrides;
  return {
    intervalMs,
    noTrafficTimeoutMs,
    noTrafficAction,
    queryErrorLimit,
    queryErrorAction,
    checks: [
      {
        name: "error-rate",
        kind: "ratio",
        queries: { requests: "requests", errors: "errors" },
        minRequests: 20,
        judge: thresholdJudge({ maxErrorRate: 0.05, failureLimit: 0, minRequests: 20 }),
        minStepDurationMs: 0,
        maxStepDurationMs: Number.POSITIVE_INFINITY,
        maxSampleRatioZ: 4,
        ...check,
      },
    ],
  };
}

/** The readings of a sample for the one check of `settings()`. */
export const reading = (c: CounterSample, baselines?: Partial<CounterSample>): Record<string, CheckReading> => ({
  "error-rate": { kind: "counters", counters: c, ...(baselines ? { baselines } : {}) },
});

export const counters = (canaryRequests: number, canaryErrors: number, stableRequests = 1000, stableErrors = 5) => ({
  canaryRequests: { a: canaryRequests },
  canaryErrors: { a: canaryErrors },
  stableRequests: { a: stableRequests },
  stableErrors: { a: stableErrors },
});
