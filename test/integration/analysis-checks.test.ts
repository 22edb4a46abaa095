// A policy of several checks on the real cluster and the real Prometheus (issue 13), with
// fledge sim playing ingress-nginx: its request counter and its request-duration histogram.
// A canary with normal errors but 10× the latency is rolled back by the latency check, and
// every place a person looks names that check (status, the Event, `fledge status`, the Slack
// notice in a loopback Slack, the CloudEvent at a loopback sink); a canary good on both is promoted; a query check
// out of bounds for failureLimit + 1 intervals fails its canary. The errorRate form of a policy
// is what every other integration file uses.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Rollout } from "../../src/api/types.js";
import type { RunningSim } from "../../src/sim/sim.js";
import { type EventSink, startEventSink } from "../../src/slack-loopback/event-sink.js";
import { type FakeSlack, startFakeSlack } from "../../src/slack-loopback/fake-slack.js";
import { NGINX_COUNTER_QUERIES } from "../../src/traffic/nginx/queries.js";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

const arm = 'namespace="{{namespace}}",service="{{service}}"';
/** Sequential checks at 1 s: α 0.001 (shared by the two) keeps a false rollback of the good
 * canary, which would fail this test, to 1 in 1,000; maxStepDuration 8 s lets a good canary
 * through a step without waiting for the tests to accept it. */
const sequential = { judge: { sequential: { alpha: 0.001, beta: 0.05, maxStepDuration: "8s" } }, minRequests: 50 };
const twoChecks = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "AnalysisPolicy",
  metadata: { name: "errors-and-latency" },
  spec: {
    interval: "1s",
    checks: [
      { name: "error-rate", ratio: { total: NGINX_COUNTER_QUERIES.requests, bad: NGINX_COUNTER_QUERIES.errors, ...sequential } },
      {
        name: "latency-100ms",
        latency: { histogram: "nginx_ingress_controller_request_duration_seconds", selector: arm, maxSeconds: 0.1, ...sequential },
      },
    ],
    noTraffic: { timeout: "60s", action: "Abort" },
  },
};
/** The canary's mean latency since its first request, at most 50 ms, two intervals out tolerated. */
const meanLatency = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "AnalysisPolicy",
  metadata: { name: "mean-latency" },
  spec: {
    interval: "2s",
    checks: [
      {
        name: "mean-latency",
        query: {
          query: `sum(nginx_ingress_controller_request_duration_seconds_sum{${arm}}) / sum(nginx_ingress_controller_request_duration_seconds_count{${arm}})`,
          max: 0.05,
          failureLimit: 2,
        },
      },
    ],
    noTraffic: { timeout: "60s", action: "Abort" },
  },
};

/** The sim's pods answer with this mean latency (exponential) and error rate. */
function template(name: string, tag: string, latencyMs: number): Rollout["spec"]["template"] {
  const t = testApp(name, { image: `example.invalid/app:${tag}`, errorRate: 0.005 }).rollout.spec.template;
  t.spec.containers[0]?.env?.push({ name: "FLEDGE_SIM_LATENCY_MS", value: String(latencyMs) });
  return t as Rollout["spec"]["template"];
}

describe("a policy of several checks on the cluster", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let slack: FakeSlack;
  let sink: EventSink;
  let ro: ReturnType<typeof rolloutClient>;
  const steps = [{ setWeight: 20 }, { pause: { duration: "3s" } }, { setWeight: 50 }, { pause: { duration: "3s" } }];

  beforeAll(async () => {
    ns = await createNamespace(kc, "checks");
    ro = rolloutClient(kc, ns);
    await apply(ns, twoChecks, meanLatency);
    slack = await startFakeSlack();
    sink = await startEventSink();
    await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "fledge-slack" }, stringData: { "bot-token": "xoxb-test", "signing-secret": "unused-here" } },
    });
    operator = await startOperatorProcess("checks", [
      `--slack-secret=${ns}/fledge-slack`,
      `--slack-api-url=${slack.url}`,
      `--cloudevents-sink=${sink.url}`,
      `--watch-namespaces=${ns}`,
    ]);
    sim = await startNamespaceSim(kc, ns, 100);
    for (const [name, policy] of [
      ["shop", "errors-and-latency"],
      ["cart", "mean-latency"],
    ] as const) {
      const app = testApp(name, { image: "example.invalid/app:1", errorRate: 0.005, policy, steps });
      app.rollout.spec.template = template(name, "1", 20) as never;
      Object.assign(app.rollout.spec, { notifications: { slack: { channel: "C0RELEASES" } } });
      await apply(ns, app.ingress, app.rollout);
    }
    for (const name of ["shop", "cart"]) await ro.waitFor(name, "Ready", (x) => condition(x, "Ready")?.status === "True");
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await slack?.close();
    await sink?.close();
    await deleteNamespace(kc, ns);
  });

  it("rolls a canary with normal errors but 10× the latency back on the latency check, and names it everywhere", async () => {
    await ro.patchSpec("shop", { template: template("shop", "slow", 200) });
    const r = await ro.waitFor("shop", "rolled back", (x) => x.status?.phase === "Degraded", 120_000);
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    expect(r.status?.analysis?.decidedBy).toBe("latency-100ms");
    // Stable serves under 1 % of its requests slower than 100 ms: it may have had none yet.
    expect(condition(r, "AnalysisHealthy")?.message).toMatch(
      /^latency-100ms: .*canary ([\d.]+× stable's error rate|[\d.]+ % errors, stable none)/,
    );
    const latency = r.status?.analysis?.checks.find((c) => c.name === "latency-100ms");
    expect(latency?.decision).toBe("Fail");
    // Slower than 100 ms: about 61 % of the canary's requests at a 200 ms mean, under 1 % of stable's.
    expect((latency?.canary?.errors ?? 0) / (latency?.canary?.requests ?? 1)).toBeGreaterThan(0.3);
    expect(r.status?.analysis?.checks.find((c) => c.name === "error-rate")?.decision).not.toBe("Fail");
    const status = (await fledge("status", "shop", "-n", ns)).stdout;
    expect(status).toMatch(/decided by check latency-100ms/);
    expect(status).toMatch(/check latency-100ms \(latency\): Fail .* slow/);
    expect(status).toMatch(/RolledBack: revision \w+ rolled back \(AnalysisFailed\): latency-100ms: /);
    expect(await ro.weight("shop")).toBe(0);
    // The notices: the Slack thread of the revision and the CloudEvent both name the check.
    const notice = await eventually("the rollback notice in Slack", async () =>
      [...slack.messages.values()].find((m) => m.text.includes("RolledBack") && m.text.includes("shop")),
    );
    expect(JSON.stringify(notice.blocks)).toContain("_Decided by check_: latency-100ms");
    const event = await eventually("the rollback CloudEvent", async () =>
      sink.received.find((e) => e.headers["ce-type"] === "dev.fledge.rollout.rolled-back"),
    );
    expect(event.data).toMatchObject({ rollout: "shop", check: "latency-100ms" });
  });

  it("promotes a canary good on both checks", async () => {
    await ro.patchSpec("shop", { template: template("shop", "good", 20) });
    const r = await ro.waitFor("shop", "promoted", isPromoted, 150_000);
    expect(condition(r, "Ready")?.status).toBe("True");
  });

  it("fails a canary whose query check is out of bounds for failureLimit + 1 intervals", async () => {
    await ro.patchSpec("cart", { template: template("cart", "slow", 200) });
    const r = await ro.waitFor("cart", "rolled back", (x) => x.status?.phase === "Degraded", 120_000);
    expect(condition(r, "AnalysisHealthy")?.reason).toBe("QueryOutOfBounds");
    const check = r.status?.analysis?.checks[0];
    expect(check?.judgeState?.failures).toBe(3);
    expect(check?.value).toBeGreaterThan(0.05);
    expect(r.status?.analysis?.decidedBy).toBe("mean-latency");
  });
});
