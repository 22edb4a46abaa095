// Batched analysis samples against the real Prometheus (issue 15): 40 Rollouts' counter queries
// read in one request give exactly what reading each Rollout one by one gives at the same
// instant (series keys, values, baselines of new series); a query that breaks the batch is
// found and its Rollout alone gets the error, with the check's name; a template that only works
// alone (a scalar) is read alone from then on; a sample reaches its Rollout only for the
// analysis state it was asked for.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatchedSampler } from "../../src/analysis/batched-sampler.js";
import type { CheckSettings } from "../../src/analysis/checks.js";
import type { CounterReading } from "../../src/analysis/counter-check.js";
import { PrometheusReader, type QueryContext } from "../../src/analysis/prometheus-reader.js";
import type { SampleRequest } from "../../src/analysis/sampling.js";
import { thresholdJudge } from "../../src/analysis/threshold-judge.js";
import { addScrapeTarget, removeScrapeTarget } from "../../src/devcluster/prometheus.js";
import { eventually, localCluster } from "./harness.js";

const metric = `batch_test_${Date.now().toString(36)}_requests_total`;
const judge = thresholdJudge({ maxErrorRate: 0.05, failureLimit: 0, minRequests: 1 });
const ratio = (name: string, total: string, bad: string): CheckSettings => ({
  name,
  kind: "ratio",
  queries: { requests: total, errors: bad },
  judge,
  minRequests: 1,
  minStepDurationMs: 0,
  maxStepDurationMs: Number.POSITIVE_INFINITY,
  maxSampleRatioZ: 0,
});
const errorRate = ratio("error-rate", `${metric}{service="{{service}}"}`, `${metric}{service="{{service}}",code=~"5.."}`);
const scalarTotal = ratio(
  "scalar",
  `scalar(sum(${metric}{service="{{service}}"}))`,
  `scalar(sum(${metric}{service="{{service}}",code=~"5.."}))`,
);
const broken = ratio("broken", `${metric}{service="{{service}}"`, `${metric}{service="{{service}}",code=~"5.."}`);
const meanQuery: CheckSettings = { name: "total", kind: "query", query: `sum(${metric}{service="{{service}}"})`, failureLimit: 0 };

const ctx = (i: number): QueryContext => ({
  namespace: "batch",
  rollout: `app${i}`,
  ingress: `app${i}`,
  stableService: `app${i}`,
  canaryService: `app${i}-canary`,
});

describe("batched analysis samples on the real Prometheus", () => {
  const cluster = localCluster();
  const endpoint = { address: cluster.prometheusUrl };
  const target = `batched-sampling-${process.pid}`;
  const startedAt = Date.now();
  let exporter: http.Server;
  let bornAt = Number.POSITIVE_INFINITY;

  beforeAll(async () => {
    // 40 apps, each arm with a 200 and a 500 series growing at its own rate; app 5's canary gets
    // a 503 series too once the test sets bornAt (a series born mid-analysis).
    exporter = http.createServer((_, res) => {
      const s = (Date.now() - startedAt) / 1000;
      const lines = [`# TYPE ${metric} counter`];
      for (let i = 0; i < 40; i++)
        for (const [arm, service] of [
          ["stable", `app${i}`],
          ["canary", `app${i}-canary`],
        ] as const) {
          const rate = (i + 1) * (arm === "stable" ? 9 : 1);
          lines.push(`${metric}{service="${service}",code="200"} ${Math.floor(rate * s)}`);
          lines.push(`${metric}{service="${service}",code="500"} ${Math.floor(rate * s * 0.01 * (i % 3))}`);
          if (i === 5 && arm === "canary" && Date.now() >= bornAt)
            lines.push(`${metric}{service="${service}",code="503"} ${Math.floor(s)}`);
        }
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(`${lines.join("\n")}\n`);
    });
    await new Promise<void>((resolve) => exporter.listen(0, "127.0.0.1", resolve));
    const { port } = exporter.address() as AddressInfo;
    await addScrapeTarget(cluster.prometheusTargetsDir, target, `127.0.0.1:${port}`);
    const reader = new PrometheusReader();
    await eventually(
      "Prometheus scraping the test exporter",
      async () => (Object.keys(await reader.query(endpoint, `${metric}{service="app39-canary"}`)).length > 0 ? true : undefined),
      60_000,
    );
  });

  afterAll(async () => {
    await removeScrapeTarget(cluster.prometheusTargetsDir, target);
    await new Promise((resolve) => exporter?.close(resolve));
  });

  it("reads 40 Rollouts in one request, exactly as one by one; finds the broken query; reads a scalar template alone", async () => {
    const reader = new PrometheusReader();
    let batches = 0;
    const counting = Object.assign(Object.create(reader) as PrometheusReader, {
      queryBatch: (...args: Parameters<PrometheusReader["queryBatch"]>) => {
        batches += 1;
        return reader.queryBatch(...args);
      },
    });
    const warnings: string[] = [];
    const sampler = new BatchedSampler(counting, { onReady: () => {}, warn: (_, meta) => warnings.push(String(meta.check)) });
    // A previous snapshot at t0 without app 5's 503 series (born after t0) and without app 6's
    // 500 series (there then, just not in the snapshot): the first is new, the second history.
    const t0 = Date.now() / 1000;
    const requests: SampleRequest[] = [];
    for (let i = 0; i < 40; i++) {
      const checks = i === 7 ? [errorRate, scalarTotal] : i === 13 ? [errorRate, broken] : i === 20 ? [errorRate, meanQuery] : [errorRate];
      const previous: SampleRequest["previous"] = {};
      if (i === 5 || i === 6) {
        const first = (await reader.readCheck(endpoint, errorRate, ctx(i), undefined, t0)) as CounterReading;
        if (i === 6) for (const key of Object.keys(first.counters.canaryErrors)) delete first.counters.canaryErrors[key];
        previous["error-rate"] = { counters: first.counters, evaluatedAt: t0 };
      }
      requests.push({ key: `batch/app${i}`, basis: "b", endpoint, checks, ctx: ctx(i), previous });
    }
    bornAt = Date.now();
    await eventually(
      "app 5's 503 series in Prometheus",
      async () => (Object.keys(await reader.query(endpoint, `${metric}{code="503"}`)).length > 0 ? true : undefined),
      30_000,
    );
    const t1 = Date.now() / 1000;

    const batched = await sampler.read(endpoint, requests, t1);
    // One request for the 40, then halving to find the two that break it (apps 7 and 13): at
    // most two requests per level per bad part, far fewer than 40 × 4 one by one.
    expect(batches).toBeGreaterThan(1);
    expect(batches).toBeLessThanOrEqual(1 + 2 * 2 * Math.ceil(Math.log2(40)));
    for (const request of requests) {
      const sample = batched.get(request.key);
      if (request.key === "batch/app13") {
        expect(sample).toMatchObject({ ok: false, kind: "invalid" });
        expect(sample?.ok === false && sample.error).toMatch(/check broken: .*parse error/);
        continue;
      }
      const alone = await reader.sampleChecks(endpoint, request.checks, request.ctx, request.previous, t1);
      expect(sample, request.key).toEqual({ at: new Date(t1 * 1000).toISOString(), ok: true, readings: alone });
    }
    // What the comparison rests on: real counts, and the two kinds of new series told apart.
    const app5 = batched.get("batch/app5");
    const app6 = batched.get("batch/app6");
    const errors5 = app5?.ok ? (app5.readings["error-rate"] as CounterReading) : undefined;
    const errors6 = app6?.ok ? (app6.readings["error-rate"] as CounterReading) : undefined;
    expect(Object.values(errors5?.counters.stableRequests ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(Object.keys(errors5?.baselines?.canaryErrors ?? {})).toEqual([]); // the 503 series: born since, counted from 0
    expect(Object.keys(errors6?.baselines?.canaryErrors ?? {}).length).toBe(1); // the 500 series: its value then is history
    expect(warnings).toEqual(["scalar"]);

    // From now on the scalar template is read alone: a batch without app 13 is one request.
    batches = 0;
    const again = await sampler.read(
      endpoint,
      requests.filter((r) => r.key !== "batch/app13"),
      t1 + 1,
    );
    expect(batches).toBe(1);
    expect([...again.values()].every((s) => s.ok)).toBe(true);
  });

  it("hands a sample to its Rollout only for the analysis state it was asked for, and reconciles it when ready", async () => {
    const ready: string[] = [];
    const sampler = new BatchedSampler(new PrometheusReader(), { onReady: (key) => ready.push(key), gatherMs: 5 });
    const request = (basis: string): SampleRequest => ({
      key: "batch/app1",
      basis,
      endpoint,
      checks: [errorRate],
      ctx: ctx(1),
      previous: {},
    });
    expect(await sampler.sample(request("rev1|w10"))).toBeUndefined();
    await eventually("the sample is read and its Rollout named", async () => (ready.length > 0 ? true : undefined), 10_000, 10);
    expect(ready).toEqual(["batch/app1"]);
    // The weight changed meanwhile: that sample is not used, a new one is asked for.
    expect(await sampler.sample(request("rev1|w20"))).toBeUndefined();
    await eventually("the second sample", async () => (ready.length > 1 ? true : undefined), 10_000, 10);
    const sample = await sampler.sample(request("rev1|w20"));
    expect(sample).toMatchObject({ ok: true, readings: { "error-rate": { kind: "counters" } } });
    // Taken once: the next asks again.
    expect(await sampler.sample(request("rev1|w20"))).toBeUndefined();
    sampler.stop();
  });

  it("gives every Rollout of a batch the outage when Prometheus is unreachable", async () => {
    const down = { address: "http://127.0.0.1:9" };
    const sampler = new BatchedSampler(new PrometheusReader(1000), { onReady: () => {} });
    const requests = [1, 2, 3].map((i) => ({
      key: `batch/app${i}`,
      basis: "b",
      endpoint: down,
      checks: [errorRate],
      ctx: ctx(i),
      previous: {},
    }));
    const samples = await sampler.read(down, requests, Date.now() / 1000);
    expect([...samples.values()].map((s) => (s.ok ? "ok" : s.kind))).toEqual(["unavailable", "unavailable", "unavailable"]);
  });
});
