// Analysis as a list of checks (issue 13): the errorRate form read as one check, α shared among
// the sequential checks, latency from a histogram's bucket, query checks against bounds, and the
// rule that combines them (one failing fails the canary, a step passes only when all pass).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analysisTick, atWeight, type CheckReading, type Sample, startAnalysis } from "../../src/analysis/analysis-tick.js";
import { analysisSettings, bucketBoundPattern, type CounterCheckSettings, checksOf, latencyQueries } from "../../src/analysis/checks.js";
import type { CounterSample } from "../../src/analysis/counter-check.js";
import { analysisFigures } from "../../src/analysis/figures.js";
import { PrometheusReader } from "../../src/analysis/prometheus-reader.js";
import { thresholdJudge } from "../../src/analysis/threshold-judge.js";
import type { AnalysisPolicySpec, AnalysisStatus } from "../../src/api/types.js";
import { renderStatus } from "../../src/cli/render-status.js";
import { decide } from "../../src/controller/state-machine.js";
import { noticesFor } from "../../src/notify/lifecycle.js";
import { lifecycleMessage } from "../../src/notify/slack-messages.js";
import { at, canaryRollout, deployment, observed } from "./fixtures.js";

const judging = { judge: { threshold: { maxErrorRate: 0.05, failureLimit: 0 } }, minRequests: 20 };
const twoChecks: AnalysisPolicySpec = {
  interval: "10s",
  checks: [
    { name: "error-rate", ratio: { total: "t", bad: "b", ...judging } },
    { name: "latency", latency: { histogram: "h", selector: 'service="{{service}}"', maxSeconds: 0.1, ...judging } },
  ],
  noTraffic: { timeout: "1m", action: "Abort" },
};
const counters = (nc: number, ec: number, ns = 1000, es = 5): CounterSample => ({
  canaryRequests: { "": nc },
  canaryErrors: { "": ec },
  stableRequests: { "": ns },
  stableErrors: { "": es },
});
const sample = (t: number, readings: Record<string, CheckReading>): Sample => ({ at: at(t).toISOString(), ok: true, readings });
const both = (errors: CounterSample, slow: CounterSample) => ({
  "error-rate": { kind: "counters" as const, counters: errors },
  latency: { kind: "counters" as const, counters: slow },
});

/** Baseline at t=0, then one tick at t=10 with these readings. */
function oneTick(policy: AnalysisPolicySpec, readings: Record<string, CheckReading>, baseline: Record<string, CheckReading>) {
  const settings = analysisSettings(policy);
  let a = atWeight(startAnalysis("rev2", at(0), settings), 20, at(0), settings);
  a = analysisTick(a, sample(0, baseline), settings).analysis;
  return analysisTick(a, sample(10, readings), settings);
}

describe("the checks of a policy", () => {
  it("reads the errorRate form as one ratio check named error-rate, noTraffic and all", () => {
    const old: AnalysisPolicySpec = {
      errorRate: { requests: "r", errors: "e", ...judging, noTraffic: { timeout: "2m", action: "Pause" } },
    };
    expect(checksOf(old)).toEqual([{ name: "error-rate", ratio: { total: "r", bad: "e", ...judging } }]);
    const settings = analysisSettings(old);
    expect(settings.noTrafficAction).toBe("Pause");
    expect(settings.noTrafficTimeoutMs).toBe(120_000);
    expect(settings.checks[0]).toMatchObject({ name: "error-rate", kind: "ratio", queries: { requests: "r", errors: "e" } });
  });

  it("shares α among the sequential checks as well as the analysed steps", () => {
    const sequential = { judge: { sequential: { alpha: 0.04, relativeRisk: 2 } }, minRequests: 0 };
    const settings = analysisSettings(
      {
        checks: [
          { name: "a", ratio: { total: "t", bad: "b", ...sequential } },
          { name: "b", latency: { histogram: "h", selector: "", maxSeconds: 1, ...sequential } },
          { name: "c", query: { query: "q", max: 1 } },
        ],
      },
      { analysedSteps: 2 },
    );
    // 0.04 / (2 steps × 2 sequential checks) = 0.01: the rollback boundary is ln(100) = 4.61.
    for (const check of settings.checks.slice(0, 2)) {
      const judge = (check as CounterCheckSettings).judge;
      const verdict = judge.tick(judge.initialState(), { canary: { requests: 10, errors: 0 }, stable: { requests: 90, errors: 0 } });
      expect(verdict.explanation).toMatch(/roll back at 4\.61/);
    }
  });

  it("measures latency as the share slower than a bucket bound, however Prometheus spells the bound", () => {
    expect(bucketBoundPattern(0.1)).toBe("0\\\\.1");
    expect(bucketBoundPattern(5)).toBe("5(\\\\.0)?");
    const q = latencyQueries({
      histogram: "traefik_service_request_duration_seconds",
      selector: 'service=~"{{service}}"',
      maxSeconds: 0.25,
    });
    expect(q.requests).toBe('sum(traefik_service_request_duration_seconds_count{service=~"{{service}}"})');
    expect(q.errors).toBe(
      'sum(traefik_service_request_duration_seconds_count{service=~"{{service}}"}) - sum(traefik_service_request_duration_seconds_bucket{service=~"{{service}}",le=~"0\\\\.25"})',
    );
    expect(latencyQueries({ histogram: "h", selector: " ", maxSeconds: 1 }).errors).toBe(
      'sum(h_count{}) - sum(h_bucket{le=~"1(\\\\.0)?"})',
    );
  });
});

describe("checks judged together", () => {
  const base = both(counters(0, 0), counters(0, 0));

  it("a slow canary with normal errors fails on the latency check, which is named", () => {
    const r = oneTick(twoChecks, both(counters(100, 0), counters(100, 40)), base);
    expect(r.outcome).toMatchObject({ kind: "fail", check: "latency", reason: "ErrorRateTooHigh" });
    expect(r.outcome.kind === "fail" && r.outcome.explanation).toMatch(/^latency: /);
    expect(r.analysis.decidedBy).toBe("latency");
    expect(r.analysis.checks.map((c) => [c.name, c.decision])).toEqual([
      ["error-rate", "Pass"],
      ["latency", "Fail"],
    ]);
    expect(analysisFigures(r.analysis)).toMatch(
      /^error-rate: canary 100 requests, 0 errors .*; latency: canary 100 requests, 40 slow \(40\.00 %\)/,
    );
  });

  it("a step passes only when every check passes", () => {
    const good = oneTick(twoChecks, both(counters(100, 0), counters(100, 1)), base);
    expect(good.outcome).toMatchObject({ kind: "pass", reason: "AllChecksPassed" });
    expect(good.analysis.passesAtWeight).toBe(1);
    // The latency check saw too few requests (its series lags): no pass, though errors look fine.
    const lagging = oneTick(twoChecks, both(counters(100, 0), counters(5, 0)), base);
    expect(lagging.outcome).toMatchObject({ kind: "inconclusive" });
    expect(lagging.analysis.passesAtWeight).toBe(0);
  });

  it("a query check over its bound for failureLimit + 1 intervals fails; no number is never a pass", () => {
    const policy: AnalysisPolicySpec = { interval: "10s", checks: [{ name: "queue", query: { query: "q", max: 10, failureLimit: 1 } }] };
    const settings = analysisSettings(policy);
    let a = atWeight(startAnalysis("rev2", at(0), settings), 20, at(0), settings);
    const value = (v: number | undefined) => ({ queue: { kind: "value" as const, value: v } });
    let r = analysisTick(a, sample(10, value(undefined)), settings);
    expect(r.outcome).toMatchObject({ kind: "inconclusive", reason: "NoData" });
    r = analysisTick(r.analysis, sample(20, value(4)), settings);
    expect(r.outcome).toMatchObject({ kind: "pass" });
    r = analysisTick(r.analysis, sample(30, value(12)), settings);
    expect(r.outcome).toMatchObject({ kind: "continue", reason: "IntervalOutOfBounds" });
    r = analysisTick(r.analysis, sample(40, value(4)), settings);
    expect(r.outcome.kind).toBe("pass");
    a = r.analysis;
    r = analysisTick(a, sample(50, value(11)), settings);
    expect(r.outcome).toMatchObject({ kind: "fail", check: "queue", reason: "QueryOutOfBounds" });
    expect(r.analysis.checks[0]?.value).toBe(11);
  });

  it("an analysis written before checks existed starts afresh from a baseline (never a pass on old counts)", () => {
    const settings = analysisSettings(twoChecks);
    const old = { revision: "rev2", startedAt: at(0).toISOString(), weightJudged: 20, lastSampleAt: at(0).toISOString() } as AnalysisStatus;
    const r = analysisTick(atWeight(old, 20, at(1), settings), sample(10, both(counters(100, 0), counters(100, 0))), settings);
    expect(r.outcome.kind).toBe("baseline");
    expect(r.analysis.checks.map((c) => c.name)).toEqual(["error-rate", "latency"]);
  });
});

describe("the deciding check reaches the rollback, the notice and fledge status", () => {
  it("names it in the AnalysisHealthy condition, the RolledBack Event, the Slack notice and the status lines", () => {
    const settings = analysisSettings(twoChecks);
    const view = canaryRollout({ currentStep: 0 });
    const obs = (t: number, readings: Record<string, CheckReading>) =>
      observed({ canary: deployment("rev2", 1), canaryWeight: 20, policy: { found: true, settings }, sample: sample(t, readings) });
    const first = decide(view, obs(0, both(counters(0, 0), counters(0, 0))), at(0));
    const d = decide({ ...view, status: first.status }, obs(10, both(counters(100, 0), counters(100, 40))), at(10));
    expect(d.status.conditions?.find((c) => c.type === "AnalysisHealthy")?.message).toMatch(/^latency: /);
    expect(d.events.find((e) => e.reason === "RolledBack")?.message).toMatch(/rolled back \(AnalysisFailed\): latency: /);
    expect(d.transitions).toEqual([expect.objectContaining({ kind: "RolledBack", check: "latency" })]);
    const [notice] = noticesFor("uid", d.transitions, d.status.analysis, at(10));
    expect(notice).toMatchObject({ kind: "RolledBack", check: "latency" });
    const rollout = { apiVersion: "fledge.dev/v1alpha1", kind: "Rollout", metadata: { name: "checkout", namespace: "shop" }, spec: {} };
    expect(lifecycleMessage(rollout as never, notice as never, "prod").blocks?.[0]).toMatchObject({
      text: { text: expect.stringContaining("_Decided by check_: latency") },
    });
    const shown = renderStatus(
      { ...(rollout as never as Parameters<typeof renderStatus>[0]), spec: view.spec as never, status: d.status },
      [],
      at(11),
    );
    expect(shown).toMatch(/decided by check latency/);
    expect(shown).toMatch(/check error-rate \(ratio\): Pass/);
    expect(shown).toMatch(/check latency \(latency\): Fail ErrorRateTooHigh — canary 100 requests, 40 slow/);
  });
});

describe("reading a latency check from Prometheus", () => {
  // A loopback stand-in for Prometheus' query API: the histogram has buckets 0.1, 0.3 and 1.2
  // (Prometheus 3 spells whole bounds "1.0"), and no series for the query that filters on le=0.25.
  let server: http.Server;
  let url = "";
  const answer = (result: Array<{ metric: Record<string, string>; value: [number, string] }>) => ({
    status: "success",
    data: { resultType: "vector", result },
  });
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const query = new URL(req.url ?? "", "http://x").searchParams.get("query") ?? "";
      let body = answer([]);
      if (query.startsWith("count by (le)"))
        body = answer(["0.1", "0.3", "1.2", "+Inf"].map((le) => ({ metric: { le }, value: [1, "2"] })));
      else if (query.includes("_bucket")) body = query.includes("0\\\\.3") ? answer([{ metric: {}, value: [1, "3"] }]) : answer([]);
      else if (query.includes("_count")) body = answer([{ metric: {}, value: [1, "10"] }]);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const ctx = { namespace: "shop", rollout: "checkout", ingress: "checkout", stableService: "checkout", canaryService: "checkout-canary" };
  const latency = (maxSeconds: number): CounterCheckSettings => ({
    name: "latency",
    kind: "latency",
    queries: latencyQueries({ histogram: "h", selector: 'service="{{service}}"', maxSeconds }),
    bucket: { histogram: "h", selector: 'service="{{service}}"', maxSeconds },
    judge: thresholdJudge({ maxErrorRate: 0.05, failureLimit: 0, minRequests: 1 }),
    minRequests: 1,
    minStepDurationMs: 0,
    maxStepDurationMs: Number.POSITIVE_INFINITY,
    maxSampleRatioZ: 4,
  });

  it("says which buckets exist when the bound is not one of them, instead of reading no slow requests", async () => {
    const reader = new PrometheusReader();
    await expect(reader.sampleChecks({ address: url }, [latency(0.25)], ctx)).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/check latency: histogram h has no bucket le="0.25" .* its buckets are 0.1, 0.3, 1.2, \+Inf/),
    });
    const read = await reader.sampleChecks({ address: url }, [latency(0.3)], ctx);
    expect(read.latency).toMatchObject({ kind: "counters", counters: { canaryRequests: { "": 10 } } });
  });
});
