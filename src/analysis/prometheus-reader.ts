// Reads the raw counters of both arms from Prometheus with instant queries. Each series is kept
// apart (keyed by its labels) so that counter resets are handled per series. A failed request
// or a broken query is an error (retried by the caller's schedule), never an empty reading.
import axios, { type AxiosInstance } from "axios";
import type { CounterSample } from "./analysis-tick.js";
import type { SeriesValues } from "./counters.js";

export interface QueryContext {
  namespace: string;
  rollout: string;
  ingress: string;
  stableService: string;
  canaryService: string;
  args?: Record<string, string>;
}

/** Substitutes {{name}} placeholders; an unknown placeholder is an error that names it. */
export function renderQuery(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined)
      throw new Error(
        `the query uses {{${key}}}, which is neither built in (namespace, rollout, ingress, service) nor in the Rollout's analysis.args`,
      );
    return value;
  });
}

function seriesKey(metric: Record<string, string>): string {
  return Object.entries(metric)
    .filter(([k]) => k !== "__name__")
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

export function parseVector(data: unknown): SeriesValues {
  const body = data as { status?: string; error?: string; errorType?: string; data?: { resultType?: string; result?: unknown } };
  if (body?.status !== "success")
    throw new Error(`Prometheus answered ${body?.errorType ?? "an error"}: ${body?.error ?? JSON.stringify(data).slice(0, 200)}`);
  const resultType = body.data?.resultType;
  if (resultType === "scalar") {
    const [, value] = (body.data?.result ?? [0, "NaN"]) as [number, string];
    return { "": Number(value) };
  }
  if (resultType !== "vector") throw new Error(`the query returned a ${resultType}, but a counter query must return an instant vector`);
  const values: SeriesValues = {};
  for (const item of (body.data?.result ?? []) as Array<{ metric: Record<string, string>; value: [number, string] }>) {
    const v = Number(item.value[1]);
    if (Number.isFinite(v)) values[seriesKey(item.metric)] = v;
  }
  return values;
}

export class PrometheusReader {
  private readonly http: AxiosInstance;

  constructor(timeoutMs = 5000) {
    this.http = axios.create({ timeout: timeoutMs, validateStatus: () => true });
  }

  async query(address: string, promql: string): Promise<SeriesValues> {
    let res: { status: number; data: unknown };
    try {
      res = await this.http.get(`${address.replace(/\/$/, "")}/api/v1/query`, { params: { query: promql } });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new Error(`Prometheus at ${address} is unreachable (${code ?? (err as Error).message})`);
    }
    if (res.status >= 500) throw new Error(`Prometheus at ${address} answered HTTP ${res.status}`);
    return parseVector(res.data);
  }

  /** The four counter readings of one tick. */
  async sampleCounters(address: string, queries: { requests: string; errors: string }, ctx: QueryContext): Promise<CounterSample> {
    const base = { ...(ctx.args ?? {}), namespace: ctx.namespace, rollout: ctx.rollout, ingress: ctx.ingress };
    const stable = { ...base, service: ctx.stableService };
    const canary = { ...base, service: ctx.canaryService };
    const named = async (what: string, template: string, values: Record<string, string>) => {
      try {
        return await this.query(address, renderQuery(template, values));
      } catch (err) {
        throw new Error(`${what} query failed: ${(err as Error).message}`);
      }
    };
    const [canaryRequests, canaryErrors, stableRequests, stableErrors] = await Promise.all([
      named("canary requests", queries.requests, canary),
      named("canary errors", queries.errors, canary),
      named("stable requests", queries.requests, stable),
      named("stable errors", queries.errors, stable),
    ]);
    return { canaryRequests, canaryErrors, stableRequests, stableErrors };
  }
}
