// Reads the raw counters of both arms from Prometheus (or a compatible API) with instant
// queries, all four at one evaluation instant. Each series is kept apart (keyed by its labels)
// so that counter resets are handled per series. A failed request or a broken query is an
// error (with its kind, so the analysis can tell an outage from a broken query or wrong
// credentials), never an empty reading.
import https from "node:https";
import axios, { type AxiosInstance } from "axios";
import type { CheckReading, SampleErrorKind } from "./analysis-tick.js";
import type { CheckSettings, CounterCheckSettings } from "./checks.js";
import type { CounterSample } from "./counter-check.js";
import type { SeriesValues } from "./counters.js";

export interface QueryContext {
  namespace: string;
  rollout: string;
  ingress: string;
  stableService: string;
  canaryService: string;
  args?: Record<string, string>;
}

/** Where to send queries and how to authenticate: resolved from the policy and its Secrets. */
export interface PrometheusEndpoint {
  address: string;
  headers?: Record<string, string>;
  tls?: { ca?: string; cert?: string; key?: string; serverName?: string; insecureSkipVerify?: boolean };
}

/** An error with the kind the analysis needs to act on it. */
export class PrometheusError extends Error {
  constructor(
    readonly kind: SampleErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** {{service}} is the arm's Service; {{trackSuffix}} is "" on the stable arm and "-canary" on the
 * canary's (the suffix of Fledge's canary names), for proxies that name the canary's series
 * after the stable one (Traefik's Ingress-NGINX provider: policies/traefik-nginx-error-rate.yaml). */
export const BUILT_IN_QUERY_VARIABLES = [
  "namespace",
  "rollout",
  "ingress",
  "service",
  "stableService",
  "canaryService",
  "trackSuffix",
] as const;

/** Substitutes {{name}} placeholders; an unknown placeholder is an error that names it. */
export function renderQuery(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined)
      throw new PrometheusError(
        "invalid",
        `the query uses {{${key}}}, which is neither built in (${BUILT_IN_QUERY_VARIABLES.join(", ")}) nor in the Rollout's analysis.args`,
      );
    return value;
  });
}

/** The {{variables}} of each arm's queries. */
export function armVariables(ctx: QueryContext): { stable: Record<string, string>; canary: Record<string, string> } {
  const base = {
    ...(ctx.args ?? {}),
    namespace: ctx.namespace,
    rollout: ctx.rollout,
    ingress: ctx.ingress,
    stableService: ctx.stableService,
    canaryService: ctx.canaryService,
  };
  return {
    stable: { ...base, service: ctx.stableService, trackSuffix: "" },
    canary: { ...base, service: ctx.canaryService, trackSuffix: "-canary" },
  };
}

export function seriesKey(metric: Record<string, string>): string {
  return Object.entries(metric)
    .filter(([k]) => k !== "__name__")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The scrape target a series came from, when its key still carries job and instance. */
export function targetOf(key: string): { job: string; instance: string } | undefined {
  const labels = new Map(key.split(",").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)] as const));
  const job = labels.get("job");
  const instance = labels.get("instance");
  return job !== undefined && instance !== undefined ? { job, instance } : undefined;
}

export function parseVector(data: unknown): SeriesValues {
  const body = data as { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
  if (body?.status !== "success") {
    const kind: SampleErrorKind = body?.errorType === "bad_data" ? "invalid" : "unavailable";
    throw new PrometheusError(
      kind,
      `Prometheus answered ${body?.errorType ?? "an error"}: ${body?.error ?? JSON.stringify(data).slice(0, 200)}`,
    );
  }
  const resultType = body.data?.resultType;
  if (resultType === "scalar") {
    const [, value] = (body.data?.result ?? [0, "NaN"]) as [number, string];
    return { "": Number(value) };
  }
  if (resultType !== "vector")
    throw new PrometheusError("invalid", `the query returned a ${resultType}, but a counter query must return an instant vector`);
  const values: SeriesValues = {};
  for (const item of (body.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>) {
    const v = Number(item.value[1]);
    if (Number.isFinite(v)) values[seriesKey(item.metric)] = v;
  }
  return values;
}

/** A bucket's upper bound as a number ("+Inf" included), to list buckets in order. */
const bound = (le: string) => (le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le));
const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
const escapeRegex = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The label a batched query tags each of its parts with (PrometheusReader.queryBatch). */
const BATCH_LABEL = "fledge_batch_query";

/** `a or b or c …` as a balanced tree, so that a batch of hundreds nests only a few levels deep. */
function joinWithOr(parts: readonly string[]): string {
  if (parts.length === 1) return parts[0] as string;
  const middle = Math.ceil(parts.length / 2);
  return `(${joinWithOr(parts.slice(0, middle))}) or (${joinWithOr(parts.slice(middle))})`;
}

const READING_NAMES: Record<keyof CounterSample, string> = {
  canaryRequests: "canary requests",
  canaryErrors: "canary errors",
  stableRequests: "stable requests",
  stableErrors: "stable errors",
};

/** The four counter queries of a counter check, rendered for a Rollout's two arms. */
export function counterQueries(queries: { requests: string; errors: string }, ctx: QueryContext): Record<keyof CounterSample, string> {
  const { stable, canary } = armVariables(ctx);
  return {
    canaryRequests: renderQuery(queries.requests, canary),
    canaryErrors: renderQuery(queries.errors, canary),
    stableRequests: renderQuery(queries.requests, stable),
    stableErrors: renderQuery(queries.errors, stable),
  };
}

/** Runs a check's reading; an error keeps its kind and gains the check's name. */
async function namingCheck(check: CheckSettings, read: () => Promise<CheckReading>): Promise<CheckReading> {
  try {
    return await read();
  } catch (err) {
    const kind = err instanceof PrometheusError ? err.kind : "unavailable";
    throw new PrometheusError(kind, `check ${check.name}: ${(err as Error).message}`);
  }
}

export class PrometheusReader {
  private readonly http: AxiosInstance;
  private readonly agents = new Map<string, https.Agent>();

  /** `limiter`: the operator's --prometheus-qps, shared by every analysis, so that hundreds of
   * canaries analysed at once queue here instead of loading Prometheus in bursts. */
  constructor(
    timeoutMs = 5000,
    private readonly limiter?: { take(): Promise<void> },
  ) {
    this.http = axios.create({ timeout: timeoutMs, validateStatus: () => true });
  }

  private agentFor(endpoint: PrometheusEndpoint): https.Agent | undefined {
    const tls = endpoint.tls;
    if (!tls || !endpoint.address.startsWith("https:")) return undefined;
    const key = JSON.stringify(tls);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new https.Agent({
        keepAlive: true,
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.serverName ? { servername: tls.serverName } : {}),
        rejectUnauthorized: !tls.insecureSkipVerify,
      });
      if (this.agents.size > 100) this.agents.clear();
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One instant query; `time` (Unix seconds) pins the evaluation instant. */
  async query(endpoint: PrometheusEndpoint | string, promql: string, time?: number): Promise<SeriesValues> {
    const ep = typeof endpoint === "string" ? { address: endpoint } : endpoint;
    return parseVector(await this.ask(ep, "get", { query: promql, ...(time !== undefined ? { time: time.toFixed(3) } : {}) }));
  }

  /**
   * Many instant queries in one request, all at one instant: each is tagged with a label of its
   * own (BATCH_LABEL, removed again here) and the tagged vectors are joined with `or`, so that
   * hundreds of analyses cost Prometheus one round trip and the rate limit one token. Every query
   * must return an instant vector; one that does not (a scalar, a parse error) fails the whole
   * request with kind "invalid", and the caller tells which one by asking again in smaller parts
   * (src/analysis/batched-sampler.ts). Series keys are the ones query() gives for the same query.
   */
  async queryBatch(endpoint: PrometheusEndpoint, promqls: readonly string[], time: number): Promise<SeriesValues[]> {
    if (promqls.length === 0) return [];
    const tagged = promqls.map((q, i) => `label_replace((${q}), "${BATCH_LABEL}", "${i}", "", "")`);
    const data = await this.ask(endpoint, "post", { query: joinWithOr(tagged), time: time.toFixed(3) });
    const body = data as { status?: string; data?: { resultType?: string; result?: unknown } };
    if (body?.status === "success" && body.data?.resultType !== "vector")
      throw new PrometheusError("invalid", `a batched query returned a ${body.data?.resultType}, not an instant vector`);
    const results: SeriesValues[] = promqls.map(() => ({}));
    if (body?.status !== "success") parseVector(data); // throws the error Prometheus gave
    for (const item of (body.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>) {
      const { [BATCH_LABEL]: index, ...metric } = item.metric;
      const into = results[Number(index)];
      const v = Number(item.value[1]);
      if (into && Number.isFinite(v)) into[seriesKey(metric)] = v;
    }
    return results;
  }

  /** One request to /api/v1/query; POST for batches, whose query may be tens of kilobytes. */
  private async ask(ep: PrometheusEndpoint, method: "get" | "post", params: Record<string, string>): Promise<unknown> {
    await this.limiter?.take();
    let res: { status: number; data: unknown };
    try {
      const agent = this.agentFor(ep);
      const url = `${ep.address.replace(/\/$/, "")}/api/v1/query`;
      const options = { headers: ep.headers ?? {}, ...(agent ? { httpsAgent: agent } : {}) };
      res =
        method === "get"
          ? await this.http.get(url, { ...options, params })
          : await this.http.post(url, new URLSearchParams(params).toString(), {
              ...options,
              headers: { ...options.headers, "content-type": "application/x-www-form-urlencoded" },
            });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new PrometheusError("unavailable", `Prometheus at ${ep.address} is unreachable (${code ?? (err as Error).message})`);
    }
    if (res.status === 401 || res.status === 403)
      throw new PrometheusError(
        "unauthorized",
        `Prometheus at ${ep.address} refused the credentials (HTTP ${res.status}): check the Secrets named in the AnalysisPolicy's prometheus.auth/headers`,
      );
    if (res.status === 404)
      throw new PrometheusError(
        "invalid",
        `Prometheus at ${ep.address} has no /api/v1/query (HTTP 404): check the address and its path prefix (e.g. /prometheus for Mimir)`,
      );
    if (res.status >= 500 && res.status !== 503 && (res.data as { errorType?: string })?.errorType === undefined)
      throw new PrometheusError("unavailable", `Prometheus at ${ep.address} answered HTTP ${res.status}`);
    return res.data;
  }

  /**
   * Every check's readings of one tick, all at one instant. `previous` holds each counter
   * check's last snapshot (see sampleCounters).
   */
  async sampleChecks(
    endpoint: PrometheusEndpoint,
    checks: readonly CheckSettings[],
    ctx: QueryContext,
    previous: Record<string, { counters: CounterSample; evaluatedAt: number } | undefined> = {},
    now = Date.now() / 1000,
  ): Promise<Record<string, CheckReading>> {
    const readings = await Promise.all(
      checks.map(
        async (check): Promise<[string, CheckReading]> => [
          check.name,
          await this.readCheck(endpoint, check, ctx, previous[check.name], now),
        ],
      ),
    );
    return Object.fromEntries(readings);
  }

  /** One check's reading of one tick; an error names the check. */
  async readCheck(
    endpoint: PrometheusEndpoint,
    check: CheckSettings,
    ctx: QueryContext,
    previous: { counters: CounterSample; evaluatedAt: number } | undefined,
    now: number,
  ): Promise<CheckReading> {
    return namingCheck(check, async () => {
      if (check.kind === "query") return { kind: "value", value: await this.readValue(endpoint, check.query, ctx, now) };
      const read = await this.sampleCounters(endpoint, check.queries, ctx, previous, now);
      if (check.bucket) await this.requireBucket(endpoint, check, read.counters, ctx, now);
      return { kind: "counters", ...read };
    });
  }

  /** A counter check's reading from counters already read (by a batch): what the one-by-one
   * path adds after its four queries, the baselines of new series and the bucket check. */
  async completeCounters(
    endpoint: PrometheusEndpoint,
    check: CounterCheckSettings,
    ctx: QueryContext,
    counters: CounterSample,
    previous: { counters: CounterSample; evaluatedAt: number } | undefined,
    now: number,
  ): Promise<CheckReading> {
    return namingCheck(check, async () => {
      const readings = counterQueries(check.queries, ctx);
      const baselines = previous ? await this.baselinesOf(endpoint, readings, counters, previous, this.namedQuery(endpoint)) : {};
      if (check.bucket) await this.requireBucket(endpoint, check, counters, ctx, now);
      return { kind: "counters", counters, evaluatedAt: now, baselines };
    });
  }

  /** A query check's number, for the canary ({{service}} is its Service): one series or none. */
  async readValue(endpoint: PrometheusEndpoint, template: string, ctx: QueryContext, now: number): Promise<number | undefined> {
    const values = Object.values(await this.query(endpoint, renderQuery(template, armVariables(ctx).canary), now));
    if (values.length > 1)
      throw new PrometheusError(
        "invalid",
        `the query returned ${values.length} series, but a query check needs one number: aggregate it (sum, max, avg …)`,
      );
    return values[0];
  }

  /**
   * A latency check whose bucket does not exist reads "no slow requests" for ever: when an arm
   * has counts but its slow-request reading is empty, the bound is not one of the histogram's
   * buckets. Say so, with the buckets there are.
   */
  private async requireBucket(
    endpoint: PrometheusEndpoint,
    check: CounterCheckSettings,
    counters: CounterSample,
    ctx: QueryContext,
    now: number,
  ): Promise<void> {
    const bucket = check.bucket;
    if (!bucket) return;
    const vars = armVariables(ctx);
    for (const arm of ["canary", "stable"] as const) {
      const total = counters[`${arm}Requests`];
      if (Object.keys(total).length === 0 || Object.keys(counters[`${arm}Errors`]).length > 0) continue;
      const selector = renderQuery(bucket.selector, vars[arm]);
      const les = Object.keys(await this.query(endpoint, `count by (le) (${bucket.histogram}_bucket{${selector}})`, now))
        .map((key) => key.replace(/^le=/, ""))
        .sort((a, b) => bound(a) - bound(b));
      throw new PrometheusError(
        "invalid",
        les.length === 0
          ? `histogram ${bucket.histogram} has a _count but no _bucket series for the ${arm} arm ({${selector}}): is it a classic histogram?`
          : `histogram ${bucket.histogram} has no bucket le="${bucket.maxSeconds}" for the ${arm} arm; its buckets are ${les.join(", ")}: set latency.maxSeconds to one of them`,
      );
    }
  }

  /**
   * The four counter readings of one tick, at one instant. `previous` is the last snapshot:
   * for a series it did not hold, the value it had then is looked up (see baselinesOf), so
   * that history is never counted as new.
   */
  async sampleCounters(
    endpoint: PrometheusEndpoint,
    queries: { requests: string; errors: string },
    ctx: QueryContext,
    previous?: { counters: CounterSample; evaluatedAt: number },
    now = Date.now() / 1000,
  ): Promise<{ counters: CounterSample; evaluatedAt: number; baselines: Partial<CounterSample> }> {
    const readings = counterQueries(queries, ctx);
    const named = this.namedQuery(endpoint);
    const keys = Object.keys(readings) as Array<keyof CounterSample>;
    const values = await Promise.all(keys.map((k) => named(k, readings[k], now)));
    const counters = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? {}])) as unknown as CounterSample;
    const baselines = previous ? await this.baselinesOf(endpoint, readings, counters, previous, named) : {};
    return { counters, evaluatedAt: now, baselines };
  }

  /** query(), with an error that says which of the four readings failed. */
  private namedQuery(endpoint: PrometheusEndpoint) {
    return async (what: keyof CounterSample, promql: string, time: number) => {
      try {
        return await this.query(endpoint, promql, time);
      } catch (err) {
        const kind = err instanceof PrometheusError ? err.kind : "unavailable";
        throw new PrometheusError(kind, `${READING_NAMES[what]} query failed: ${(err as Error).message}`);
      }
    };
  }

  /**
   * A series absent from the previous snapshot is one of three things, and only the first
   * may be counted from 0:
   * - born since (the first 5xx of a status code, on a target already being scraped): its
   *   whole value is new;
   * - there then but not read (the previous reading came before Prometheus had it): its value
   *   at the previous instant is history;
   * - on a target Prometheus began scraping only since (just discovered, or Prometheus
   *   restarted): its first value is history too.
   * The same query at the previous instant tells the second case; the target's `up` series at
   * that instant tells the first from the third. Series whose labels no longer carry job and
   * instance (aggregated away) cannot be told apart and are taken as born since.
   */
  private async baselinesOf(
    endpoint: PrometheusEndpoint,
    readings: Record<keyof CounterSample, string>,
    counters: CounterSample,
    previous: { counters: CounterSample; evaluatedAt: number },
    named: (what: keyof CounterSample, promql: string, time: number) => Promise<SeriesValues>,
  ): Promise<Partial<CounterSample>> {
    const baselines: Partial<CounterSample> = {};
    const unexplained: Array<{ reading: keyof CounterSample; key: string; value: number }> = [];
    for (const reading of Object.keys(readings) as Array<keyof CounterSample>) {
      const known = previous.counters[reading] ?? {};
      const fresh = Object.keys(counters[reading]).filter((key) => known[key] === undefined);
      if (fresh.length === 0) continue;
      const then = await named(reading, readings[reading], previous.evaluatedAt);
      const found: SeriesValues = {};
      for (const key of fresh) {
        if (then[key] !== undefined) found[key] = then[key];
        else unexplained.push({ reading, key, value: counters[reading][key] ?? 0 });
      }
      baselines[reading] = found;
    }
    const targets = new Map<string, { job: string; instance: string }>();
    for (const u of unexplained) {
      const t = targetOf(u.key);
      if (t) targets.set(`${t.job}\u0000${t.instance}`, t);
    }
    if (targets.size === 0) return baselines;
    const jobs = [...new Set([...targets.values()].map((t) => t.job))];
    const instances = [...new Set([...targets.values()].map((t) => t.instance))];
    const up = await this.query(
      endpoint,
      `up{job=~"${escapeLabel(jobs.map(escapeRegex).join("|"))}",instance=~"${escapeLabel(instances.map(escapeRegex).join("|"))}"}`,
      previous.evaluatedAt,
    );
    const scrapedThen = new Set(
      Object.keys(up)
        .map((k) => targetOf(k))
        .map((t) => (t ? `${t.job}\u0000${t.instance}` : "")),
    );
    for (const u of unexplained) {
      const t = targetOf(u.key);
      if (!t || scrapedThen.has(`${t.job}\u0000${t.instance}`)) continue; // born since: counted from 0
      const map = baselines[u.reading] ?? {};
      map[u.key] = u.value; // first seen since: its value so far is history
      baselines[u.reading] = map;
    }
    return baselines;
  }
}
