// Bad input is refused by the API server itself (OpenAPI schema + CEL rules in the CRDs), with
// a message that names the field and says what to fix — and nothing is created.
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../src/devcluster/versions.js";
import { kubectl, testApp, testPolicy } from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig } from "./harness.js";

// biome-ignore lint/suspicious/noExplicitAny: the cases poke at arbitrary paths of plain objects
type Mutation = (o: Record<string, any>) => void;

const rolloutCases: Array<[string, Mutation, RegExp]> = [
  ["no steps", (r) => (r.spec.strategy.canary.steps = []), /spec\.strategy\.canary\.steps.*at least 1 item/],
  ["a weight over 100", (r) => (r.spec.strategy.canary.steps = [{ setWeight: 150 }]), /setWeight.*less than or equal to 100/],
  [
    "a negative weight",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: -5 }, { setWeight: 10 }]),
    /setWeight.*greater than or equal to 0/,
  ],
  [
    "a step with both setWeight and pause",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 10, pause: {} }]),
    /steps\[0\].*exactly one of setWeight, pause, approval, setHeaderRoute or setCanaryScale/,
  ],
  [
    "an empty step",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 10 }, {}]),
    /steps\[1\].*exactly one of setWeight, pause, approval, setHeaderRoute or setCanaryScale/,
  ],
  [
    "decreasing weights",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 50 }, { setWeight: 20 }]),
    /steps.*setWeight values must not decrease/,
  ],
  [
    "no traffic to the canary",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 0 }, { pause: {} }]),
    /at least one step must send traffic to the canary/,
  ],
  [
    "an unparseable duration",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 10 }, { pause: { duration: "soon" } }]),
    /pause\.duration.*should match/,
  ],
  [
    "a pause over a week",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 10 }, { pause: { duration: "200h" } }]),
    /pause\.duration.*between 1s and 168h/,
  ],
  ["no containers", (r) => (r.spec.template.spec.containers = []), /spec\.template\.spec\.containers.*at least 1 item/],
  [
    "a reserved pod label",
    (r) => (r.spec.template.metadata.labels["fledge.dev/track"] = "x"),
    /spec\.template\.metadata.*labels starting with fledge\.dev\/ are reserved/,
  ],
  ["a port out of range", (r) => (r.spec.service.port = 70000), /spec\.service\.port.*less than or equal to 65535/],
  ["no traffic router", (r) => delete r.spec.traffic, /spec\.traffic: Required value/],
  [
    "both a template and a workloadRef",
    (r) => (r.spec.workloadRef = { apiVersion: "apps/v1", kind: "Deployment", name: "shop" }),
    /spec: Invalid value.*exactly one of template .* or workloadRef/,
  ],
  ["neither a template nor a workloadRef", (r) => delete r.spec.template, /spec: Invalid value.*exactly one of template .* or workloadRef/],
  [
    "replicas beside a workloadRef",
    (r) => {
      delete r.spec.template;
      r.spec.workloadRef = { apiVersion: "apps/v1", kind: "Deployment", name: "shop" };
      r.spec.replicas = 3;
    },
    /with workloadRef the Deployment's replicas count/,
  ],
  [
    "a workloadRef to a StatefulSet",
    (r) => {
      delete r.spec.template;
      r.spec.workloadRef = { apiVersion: "apps/v1", kind: "StatefulSet", name: "shop" };
      delete r.spec.replicas;
    },
    /spec\.workloadRef\.kind: Unsupported value: "StatefulSet"/,
  ],
  [
    "a setCanaryScale with two sizes",
    (r) => (r.spec.strategy.canary.steps = [{ setCanaryScale: { replicas: 2, weight: 50 } }, { setWeight: 10 }]),
    /setCanaryScale.*exactly one of replicas, weight or matchTrafficWeight: true/,
  ],
  [
    "an empty traffic block",
    (r) => (r.spec.traffic = {}),
    /spec\.traffic: Invalid value.*exactly one router: nginx: \{ingress\} or gatewayAPI/,
  ],
  [
    "two routers at once",
    (r) => (r.spec.traffic = { nginx: { ingress: "web" }, gatewayAPI: { httpRoute: "web" } }),
    /spec\.traffic: Invalid value.*exactly one router/,
  ],
  [
    "two preview headers with the NGINX router",
    (r) =>
      (r.spec.strategy.canary.steps = [
        {
          setHeaderRoute: {
            name: "pr",
            match: [
              { header: "a", value: "1" },
              { header: "b", value: "2" },
            ],
          },
        },
        { setWeight: 10 },
      ]),
    /with traffic\.nginx a setHeaderRoute matches exactly one header/,
  ],
  [
    "a step with setHeaderRoute and setWeight at once",
    (r) => (r.spec.strategy.canary.steps = [{ setWeight: 10, setHeaderRoute: { name: "pr" } }]),
    /exactly one of setWeight, pause, approval, setHeaderRoute or setCanaryScale/,
  ],
  [
    "an HTTPRoute rule name that is not a DNS label",
    (r) => (r.spec.traffic = { gatewayAPI: { httpRoute: "web", rule: "Main Rule" } }),
    /spec\.traffic\.gatewayAPI\.rule/,
  ],
  ["a name too long for <name>-canary", (r) => (r.metadata.name = "a".repeat(57)), /metadata\.name must be at most 56 characters/],
  ["a deadline under 10 s", (r) => (r.spec.progressDeadlineSeconds = 5), /spec\.progressDeadlineSeconds.*greater than or equal to 10/],
  [
    "an analysis arg that is not an identifier",
    (r) => (r.spec.analysis.args = { "a-b": "x" }),
    /spec\.analysis\.args.*keys must be identifiers/,
  ],
  ["negative replicas", (r) => (r.spec.replicas = -1), /spec\.replicas.*greater than or equal to 0/],
  ["a targetPort out of range", (r) => (r.spec.service.targetPort = 70000), /spec\.service\.targetPort.*port number from 1 to 65535/],
  ["a targetPort name with capitals", (r) => (r.spec.service.targetPort = "Web"), /spec\.service\.targetPort.*name of a container port/],
];

const policyCases: Array<[string, Mutation, RegExp]> = [
  ["an error rate over 1", (p) => (p.spec.errorRate.judge.threshold.maxErrorRate = 1.5), /maxErrorRate.*less than or equal to 1/],
  ["an interval over 10 minutes", (p) => (p.spec.interval = "1h"), /spec\.interval.*between 1s and 10m/],
  ["no judge", (p) => (p.spec.errorRate.judge = {}), /spec\.errorRate\.judge.*must set exactly one judge: threshold or sequential/],
  [
    "two judges",
    (p) => (p.spec.errorRate.judge.sequential = { alpha: 0.01 }),
    /spec\.errorRate\.judge.*must set exactly one judge: threshold or sequential/,
  ],
  [
    "a sequential alpha over 0.5",
    (p) => (p.spec.errorRate.judge = { sequential: { alpha: 0.9 } }),
    /spec\.errorRate\.judge\.sequential\.alpha.*less than or equal to 0\.5/,
  ],
  [
    "an SLO burn rate below its budget",
    (p) => (p.spec.errorRate.slo = { maxErrorRate: 0.01, burnErrorRate: 0.001 }),
    /spec\.errorRate\.slo.*burnErrorRate must be greater than slo\.maxErrorRate/,
  ],
  [
    "an unknown no-traffic action",
    (p) => (p.spec.errorRate.noTraffic.action = "Explode"),
    /noTraffic\.action.*supported values: "Abort", "Pause"/,
  ],
  [
    "a Prometheus address that is not http(s)",
    (p) => (p.spec.prometheus = { address: "ftp://prom" }),
    /spec\.prometheus\.address.*should match/,
  ],
  ["no request query", (p) => delete p.spec.errorRate.requests, /spec\.errorRate\.requests: Required value/],
  [
    "both checks and errorRate",
    (p) => (p.spec.checks = [{ name: "q", query: { query: "up", max: 1 } }]),
    /spec: Invalid value.*set spec\.checks \(a list of checks\) or the older spec\.errorRate, not both/,
  ],
  [
    "a check of two kinds",
    (p) => {
      p.spec.checks = [
        { name: "two", query: { query: "up", max: 1 }, ratio: { total: "t", bad: "b", judge: { threshold: { maxErrorRate: 0.1 } } } },
      ];
      delete p.spec.errorRate;
    },
    /spec\.checks\[0\].*each check sets exactly one kind: ratio, latency or query/,
  ],
  [
    "a query check without bounds",
    (p) => {
      p.spec.checks = [{ name: "q", query: { query: "up" } }];
      delete p.spec.errorRate;
    },
    /spec\.checks\[0\]\.query.*needs max, min or both/,
  ],
  [
    "two checks of one name",
    (p) => {
      p.spec.checks = [
        { name: "q", query: { query: "up", max: 1 } },
        { name: "q", query: { query: "up", min: 0 } },
      ];
      delete p.spec.errorRate;
    },
    /spec\.checks\[1\].*Duplicate value/,
  ],
  [
    "a latency check with no bound",
    (p) => {
      p.spec.checks = [{ name: "slow", latency: { histogram: "h", selector: "", judge: { threshold: { maxErrorRate: 0.1 } } } }];
      delete p.spec.errorRate;
    },
    /spec\.checks\[0\]\.latency\.maxSeconds: Required value/,
  ],
];

describe("invalid Rollouts and AnalysisPolicies are refused at apply", () => {
  const kc = kubeConfig();
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace(kc, "validation");
  });
  afterAll(async () => {
    await deleteNamespace(kc, ns);
  });

  const refuse = async (kind: string, object: Record<string, unknown>, expected: RegExp) => {
    const res = await kubectl(["apply", "-n", ns, "-f", "-"], JSON.stringify(object));
    expect(res.code, `${kind} was accepted`).not.toBe(0);
    expect(res.stderr).toMatch(expected);
    const name = (object.metadata as { name: string }).name;
    expect((await kubectl(["get", kind, "-n", ns, name])).code, "nothing is created").not.toBe(0);
  };

  it.each(rolloutCases)("Rollout with %s", async (_what, mutate, expected) => {
    const { rollout } = testApp("bad", { image: "x:1", errorRate: 0 });
    mutate(rollout);
    await refuse("rollouts.fledge.dev", rollout, expected);
  });

  it.each(policyCases)("AnalysisPolicy with %s", async (_what, mutate, expected) => {
    const policy = testPolicy("bad");
    mutate(policy);
    await refuse("analysispolicies.fledge.dev", policy, expected);
  });

  it("every ready-made policy in policies/ is accepted as it is", async () => {
    for (const file of readdirSync(path.join(repoRoot, "policies")).filter((f) => f.endsWith(".yaml"))) {
      const res = await kubectl(["apply", "--dry-run=server", "-n", ns, "-f", path.join(repoRoot, "policies", file)]);
      expect(res.stderr, file).toBe("");
      expect(res.code, file).toBe(0);
    }
  });

  it("the valid originals are accepted (the cases above fail for their own reason)", async () => {
    const { rollout } = testApp("good", { image: "x:1", errorRate: 0 });
    expect((await kubectl(["apply", "--dry-run=server", "-n", ns, "-f", "-"], JSON.stringify(rollout))).stderr).toBe("");
    expect((await kubectl(["apply", "--dry-run=server", "-n", ns, "-f", "-"], JSON.stringify(testPolicy("good")))).stderr).toBe("");
  });
});
