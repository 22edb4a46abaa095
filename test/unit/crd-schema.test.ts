// Keeps the CRD schema (src/api/crd-schema.ts) and the TypeScript types (src/api/types.ts) in
// step: a fully-populated example of each type — DeepRequired, so the compiler insists on
// every field the type has — must use exactly the fields the schema has, with the same JSON
// types. Also checks that crds/*.yaml are what `make crds` generates.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { analysisPolicyCrd, rolloutCrd, type Schema } from "../../src/api/crd-schema.js";
import type { AnalysisPolicy, Rollout } from "../../src/api/types.js";
import { renderCrd } from "../../src/cli/crds-command.js";
import { repoRoot } from "../../src/devcluster/versions.js";

type DeepRequired<T> =
  T extends Array<infer U>
    ? Array<DeepRequired<U>>
    : T extends object
      ? { [K in keyof T]-?: K extends "template" | "metadata" ? T[K] : DeepRequired<T[K]> }
      : T;

const now = "2026-01-01T00:00:00Z";
const arm = { requests: 10, errors: 1 };
const fullRollout: DeepRequired<Rollout> = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "x" },
  spec: {
    replicas: 2,
    template: { spec: { containers: [{ name: "a", image: "b" }] } },
    workloadRef: { apiVersion: "apps/v1", kind: "Deployment", name: "d" },
    service: { port: 80, targetPort: 8080, portName: "http" },
    traffic: { nginx: { ingress: "x" }, gatewayAPI: { httpRoute: "r", rule: "main" } },
    analysis: { policy: "p", args: { k: "v" } },
    strategy: {
      canary: {
        steps: [
          {
            setWeight: 10,
            pause: { duration: "1m" },
            approval: { slack: { channel: "C1" }, approvers: ["U1"], timeout: "30m", onTimeout: "Abort" },
            setHeaderRoute: { name: "preview", match: [{ header: "x-canary", value: "1", type: "Exact" }] },
            setCanaryScale: { replicas: 3, weight: 50, matchTrafficWeight: true },
          },
        ],
        scaleDownDelaySeconds: 10,
      },
    },
    progressDeadlineSeconds: 600,
    notifications: { slack: { channel: "C2" } },
  },
  status: {
    observedGeneration: 1,
    phase: "Healthy",
    currentRevision: "a",
    stableRevision: "a",
    canaryRevision: "b",
    currentStep: 1,
    canaryWeight: 10,
    stepStartedAt: now,
    lastProgressAt: now,
    rolledBackRevision: "c",
    canaryDrainingSince: now,
    handledAction: "promote",
    lastAction: { value: "promote", kind: "promote", outcome: "Applied", message: "m", at: now },
    promoteRequested: { step: 1, at: now },
    headerRoute: { name: "preview", match: [{ header: "x-canary", value: "1", type: "Exact" }] },
    replicas: 2,
    selector: "a=b",
    workload: { name: "d", releasingSince: now },
    analysis: {
      revision: "b",
      startedAt: now,
      lastSampleAt: now,
      passesAtWeight: 1,
      weightJudged: 10,
      weightSince: now,
      lastConclusiveAt: now,
      resumedAt: now,
      consecutiveErrors: 0,
      decision: "Pass",
      reason: "R",
      explanation: "e",
      decidedBy: "latency",
      checks: [
        {
          name: "latency",
          kind: "latency",
          lastCounters: {
            canaryRequests: { s: 1 },
            canaryErrors: { s: 1 },
            stableRequests: { s: 1 },
            stableErrors: { s: 1 },
            evaluatedAt: 1,
          },
          canary: arm,
          stable: arm,
          window: { canary: arm, stable: arm, startedAt: now },
          atWeight: { canary: arm, stable: arm, ticks: 3, settledCanary: 5, settledTotal: 50 },
          judgeState: { failures: 0 },
          value: 0.5,
          evidence: { reject: 4.6, accept: -2.9, points: [[1, 10, 0.1, null]] },
          decision: "Pass",
          reason: "R",
          explanation: "e",
        },
      ],
    },
    approval: {
      revision: "b",
      step: 2,
      token: "t",
      requestedAt: now,
      decision: "Approved",
      decidedBy: "U1",
      decidedAt: now,
      slack: { channel: "C1", ts: "1.2", shown: "Approved" },
      previousMessage: { channel: "C1", ts: "1.1", revision: "a", step: 1, decision: "Superseded", decidedBy: "U2" },
    },
    notifications: {
      revision: "b",
      channel: "C2",
      threadTs: "1.0",
      outbox: [{ id: "i", kind: "Promoted", revision: "b", at: now, message: "m", figures: "f", check: "latency", attempts: 1 }],
    },
    conditions: [{ type: "Ready", status: "True", reason: "R", message: "m", lastTransitionTime: now, observedGeneration: 1 }],
    message: "m",
  },
};
const counterJudging = {
  judge: {
    threshold: { maxErrorRate: 0.01, failureLimit: 0 },
    sequential: { alpha: 0.01, beta: 0.05, relativeRisk: 2, minStepDuration: "10s", maxStepDuration: "10m" },
  },
  minRequests: 20,
  slo: { maxErrorRate: 0.001, burnErrorRate: 0.0144 },
  maxSampleRatioZ: 4,
};
const fullPolicy: DeepRequired<AnalysisPolicy> = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "AnalysisPolicy",
  metadata: { name: "p" },
  spec: {
    prometheus: {
      address: "http://p:9090",
      headers: [{ name: "X-Scope-OrgID", value: "t", secretKeyRef: { name: "s", key: "k" } }],
      auth: { bearer: { secretKeyRef: { name: "s", key: "k" } }, basic: { secretName: "s", usernameKey: "u", passwordKey: "p" } },
      tls: { caSecretKeyRef: { name: "s", key: "ca.crt" }, clientCertSecretName: "c", serverName: "p", insecureSkipVerify: false },
    },
    interval: "10s",
    errorRate: {
      requests: "r",
      errors: "e",
      ...counterJudging,
      noTraffic: { timeout: "5m", action: "Abort" },
    },
    checks: [
      {
        name: "c",
        ratio: { total: "t", bad: "b", ...counterJudging },
        latency: { histogram: "h", selector: 's="x"', maxSeconds: 0.3, ...counterJudging },
        query: { query: "q", max: 1, min: 0, failureLimit: 1 },
      },
    ],
    noTraffic: { timeout: "5m", action: "Abort" },
    queryErrors: { limit: 4, action: "Pause" },
  },
};

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Differences between an example value and a schema, as readable paths. */
function compare(value: unknown, schema: Schema, at: string, problems: string[]): void {
  const type = jsonType(value);
  if (value === null && schema.nullable) return;
  if (schema.type && !(schema.type === type || (schema.type === "number" && type === "integer"))) {
    problems.push(`${at}: the type gives ${type}, the schema says ${schema.type}`);
    return;
  }
  if (schema.type === "array" && schema.items) {
    for (const [i, item] of (value as unknown[]).entries()) compare(item, schema.items, `${at}[${i}]`, problems);
  }
  if (schema.type !== "object" || typeof value !== "object" || value === null) return;
  if (schema.properties) {
    const props = schema.properties;
    const keys = Object.keys(value as object);
    for (const key of keys) {
      if (props[key]) compare((value as Record<string, unknown>)[key], props[key], `${at}.${key}`, problems);
      else if (!schema["x-kubernetes-preserve-unknown-fields"]) problems.push(`${at}.${key}: in the type, not in the schema`);
    }
    if (!schema["x-kubernetes-preserve-unknown-fields"]) {
      for (const key of Object.keys(props)) if (!keys.includes(key)) problems.push(`${at}.${key}: in the schema, not in the type`);
    }
  } else if (schema.additionalProperties) {
    for (const [key, v] of Object.entries(value as object)) compare(v, schema.additionalProperties, `${at}.${key}`, problems);
  }
}

const schemaOf = (crd: typeof rolloutCrd) => crd.spec.versions[0]?.schema.openAPIV3Schema as Schema;

describe("CRD schema and TypeScript types", () => {
  it("Rollout: the same fields with the same types", () => {
    const problems: string[] = [];
    const { metadata: _m, ...rest } = fullRollout;
    compare(rest, schemaOf(rolloutCrd), "Rollout", problems);
    expect(problems.filter((p) => !p.startsWith("Rollout.metadata"))).toEqual([]);
  });

  it("AnalysisPolicy: the same fields with the same types", () => {
    const problems: string[] = [];
    const { metadata: _m, ...rest } = fullPolicy;
    compare(rest, schemaOf(analysisPolicyCrd), "AnalysisPolicy", problems);
    expect(problems.filter((p) => !p.startsWith("AnalysisPolicy.metadata"))).toEqual([]);
  });

  it("the committed crds/*.yaml and the Helm chart's copy are what `make crds` generates", () => {
    for (const dir of ["crds", "operator/helm/fledge/crds"]) {
      for (const crd of [rolloutCrd, analysisPolicyCrd]) {
        const file = readFileSync(path.join(repoRoot, dir, `${crd.metadata.name}.yaml`), "utf8");
        expect(file, `${dir}/${crd.metadata.name}.yaml is stale: run make crds`).toBe(renderCrd(crd));
      }
    }
  });
});
