// Analysis samples for many Rollouts at once, read off the reconcile path.
//
// Read one by one inside each reconcile, 500 analyses at a 2 s interval need 250 samples (1,000
// queries) a second from a handful of reconcile workers that wait on every one: measured, the
// samples came 30-90 s late and good canaries hit the no-traffic timeout (docs/benchmarks.md,
// "Busy"). Here a reconcile that wants a sample only files a request and moves on. Requests to
// one Prometheus gather into batches: every counter query of every waiting Rollout goes out in
// one request (PrometheusReader.queryBatch), evaluated at one instant, and each Rollout is
// reconciled again (onReady) once its sample is in. Only what the batch cannot carry goes one
// by one: query checks (they may return a scalar), the rare follow-up reads (baselines of new
// series, a missing histogram bucket), and a query that broke its batch.
import type { Sample } from "./analysis-tick.js";
import type { CounterCheckSettings } from "./checks.js";
import type { CounterSample } from "./counter-check.js";
import type { SeriesValues } from "./counters.js";
import { counterQueries, type PrometheusEndpoint, PrometheusError, type PrometheusReader } from "./prometheus-reader.js";
import { type AnalysisSampler, errorSample, type SampleRequest } from "./sampling.js";

export interface BatchedSamplerOptions {
  /** The Rollout's sample is ready: reconcile it. */
  onReady(key: string): void;
  /** How long the first request of a batch waits for others to join it. */
  gatherMs?: number;
  /** Queries in one request to Prometheus, at most (a Rollout's are never split). */
  maxQueriesPerRequest?: number;
  /** Told once per query template that cannot be batched. */
  warn?: (message: string, meta: Record<string, unknown>) => void;
  /** Each batch read: how many Rollouts, and how many requests it took. */
  onBatch?: (rollouts: number, requests: number) => void;
}

/** Requests waiting for one Prometheus (one address, headers and TLS). */
interface Lane {
  endpoint: PrometheusEndpoint;
  pending: Map<string, SampleRequest>;
  /** Key → basis of the requests in the batch being read. */
  reading: Map<string, string>;
  timer?: NodeJS.Timeout;
  /** When the timer fires (ms since the epoch). */
  timerAt?: number;
}

/** A sample not taken within this long is dropped: its Rollout moved on without it. */
const READY_TTL_MS = 120_000;

type Reader = Pick<PrometheusReader, "queryBatch" | "completeCounters" | "readCheck">;

export class BatchedSampler implements AnalysisSampler {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new Map<string, { basis: string; sample: Sample; readyAt: number }>();
  /** Query templates whose batched form Prometheus refused while they work alone. */
  private readonly alone = new Set<string>();
  private stopped = false;

  constructor(
    private readonly reader: Reader,
    private readonly options: BatchedSamplerOptions,
  ) {}

  async sample(request: SampleRequest): Promise<Sample | undefined> {
    const done = this.ready.get(request.key);
    if (done) {
      this.ready.delete(request.key);
      if (done.basis === request.basis) return done.sample;
    }
    const lane = this.laneFor(request.endpoint);
    if (lane.reading.get(request.key) !== request.basis) lane.pending.set(request.key, request);
    this.schedule(lane);
    return undefined;
  }

  forget(key: string): void {
    this.ready.delete(key);
    for (const lane of this.lanes.values()) lane.pending.delete(key);
  }

  stop(): void {
    this.stopped = true;
    for (const lane of this.lanes.values()) if (lane.timer) clearTimeout(lane.timer);
  }

  private laneFor(endpoint: PrometheusEndpoint): Lane {
    const id = JSON.stringify(endpoint);
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = { endpoint, pending: new Map(), reading: new Map() };
      this.lanes.set(id, lane);
    }
    return lane;
  }

  /** One batch per lane at a time: what arrives meanwhile forms the next, so batches grow with
   * load. A request asked for ahead (notBefore) waits until then. */
  private schedule(lane: Lane): void {
    if (this.stopped || lane.reading.size > 0 || lane.pending.size === 0) return;
    let due = Number.POSITIVE_INFINITY;
    for (const r of lane.pending.values()) due = Math.min(due, r.notBefore ?? 0);
    const at = Math.max(due, Date.now() + (this.options.gatherMs ?? 25));
    if (lane.timer && lane.timerAt !== undefined && lane.timerAt <= at) return;
    if (lane.timer) clearTimeout(lane.timer);
    lane.timerAt = at;
    lane.timer = setTimeout(() => void this.flush(lane), at - Date.now());
    lane.timer.unref();
  }

  private async flush(lane: Lane): Promise<void> {
    lane.timer = undefined;
    lane.timerAt = undefined;
    const now = Date.now();
    const requests = [...lane.pending.values()].filter((r) => (r.notBefore ?? 0) <= now);
    for (const r of requests) {
      lane.pending.delete(r.key);
      lane.reading.set(r.key, r.basis);
    }
    for (const [key, r] of this.ready) if (now - r.readyAt > READY_TTL_MS) this.ready.delete(key);
    let samples = new Map<string, Sample>();
    try {
      if (requests.length > 0) samples = await this.read(lane.endpoint, requests, now / 1000);
    } finally {
      lane.reading.clear();
      for (const r of requests) {
        const sample = samples.get(r.key) ?? errorSample(new Date(now).toISOString(), new Error("the batched reading was not taken"));
        this.ready.set(r.key, { basis: r.basis, sample, readyAt: Date.now() });
      }
      if (!this.stopped) for (const r of requests) this.options.onReady(r.key);
      this.schedule(lane);
    }
  }

  /** Every request's sample, all evaluated at `time` (Unix seconds). */
  async read(endpoint: PrometheusEndpoint, requests: readonly SampleRequest[], time: number): Promise<Map<string, Sample>> {
    const out = new Map<string, Sample>();
    const chunks = this.chunks(requests);
    await Promise.all(chunks.map((chunk) => this.readChunk(endpoint, chunk, time, out)));
    this.options.onBatch?.(requests.length, chunks.length);
    return out;
  }

  private batchedChecks(request: SampleRequest): CounterCheckSettings[] {
    return request.checks.filter((c): c is CounterCheckSettings => c.kind !== "query" && !this.alone.has(templateOf(c)));
  }

  private chunks(requests: readonly SampleRequest[]): SampleRequest[][] {
    const limit = this.options.maxQueriesPerRequest ?? 400;
    const chunks: SampleRequest[][] = [];
    let current: SampleRequest[] = [];
    let size = 0;
    for (const r of requests) {
      const n = this.batchedChecks(r).length * 4;
      if (current.length > 0 && size + n > limit) {
        chunks.push(current);
        current = [];
        size = 0;
      }
      current.push(r);
      size += n;
    }
    if (current.length > 0) chunks.push(current);
    return chunks;
  }

  private async readChunk(
    endpoint: PrometheusEndpoint,
    requests: readonly SampleRequest[],
    time: number,
    out: Map<string, Sample>,
  ): Promise<void> {
    const at = new Date(time * 1000).toISOString();
    // Each request's part of the batch: its counter checks' four queries each, rendered.
    const parts: Array<{ request: SampleRequest; checks: CounterCheckSettings[]; queries: string[] }> = [];
    for (const request of requests) {
      try {
        const checks = this.batchedChecks(request);
        parts.push({ request, checks, queries: checks.flatMap((c) => Object.values(counterQueries(c.queries, request.ctx))) });
      } catch (err) {
        out.set(request.key, errorSample(at, err));
      }
    }
    let values: SeriesValues[];
    try {
      values = await this.reader.queryBatch(
        endpoint,
        parts.flatMap((p) => p.queries),
        time,
      );
    } catch (err) {
      const kind = err instanceof PrometheusError ? err.kind : "unavailable";
      if (kind !== "invalid") {
        for (const { request } of parts) out.set(request.key, errorSample(at, err));
        return;
      }
      // One query broke the batch: halve until it is found, and read that Rollout one by one.
      if (parts.length > 1) {
        const half = Math.ceil(parts.length / 2);
        await Promise.all([
          this.readChunk(
            endpoint,
            parts.slice(0, half).map((p) => p.request),
            time,
            out,
          ),
          this.readChunk(
            endpoint,
            parts.slice(half).map((p) => p.request),
            time,
            out,
          ),
        ]);
        return;
      }
      const [part] = parts;
      if (part) await this.readAlone(endpoint, part.request, part.checks, time, out);
      return;
    }
    let offset = 0;
    await Promise.all(
      parts.map((part) => {
        const mine = values.slice(offset, offset + part.queries.length);
        offset += part.queries.length;
        return this.complete(endpoint, part.request, part.checks, mine, time, out);
      }),
    );
  }

  /** A request's sample from its share of the batch, plus what it reads on its own (all of it
   * when `batched` is empty). */
  private async complete(
    endpoint: PrometheusEndpoint,
    request: SampleRequest,
    batched: readonly CounterCheckSettings[],
    values: readonly SeriesValues[],
    time: number,
    out: Map<string, Sample>,
  ): Promise<void> {
    const at = new Date(time * 1000).toISOString();
    try {
      const readings = await Promise.all(
        request.checks.map(async (check) => {
          const i = batched.indexOf(check as CounterCheckSettings);
          if (i < 0)
            return [check.name, await this.reader.readCheck(endpoint, check, request.ctx, request.previous[check.name], time)] as const;
          const [canaryRequests = {}, canaryErrors = {}, stableRequests = {}, stableErrors = {}] = values.slice(i * 4, i * 4 + 4);
          const counters: CounterSample = { canaryRequests, canaryErrors, stableRequests, stableErrors };
          const reading = await this.reader.completeCounters(
            endpoint,
            check as CounterCheckSettings,
            request.ctx,
            counters,
            request.previous[check.name],
            time,
          );
          return [check.name, reading] as const;
        }),
      );
      out.set(request.key, { at, ok: true, readings: Object.fromEntries(readings) });
    } catch (err) {
      out.set(request.key, errorSample(at, err));
    }
  }

  /** A Rollout whose batched queries Prometheus refused: read one by one. If that works, its
   * templates are not batched again (a query returning a scalar, say); if not, the error is the
   * Rollout's own, with the check and reading it names. */
  private async readAlone(
    endpoint: PrometheusEndpoint,
    request: SampleRequest,
    batched: readonly CounterCheckSettings[],
    time: number,
    out: Map<string, Sample>,
  ): Promise<void> {
    await this.complete(endpoint, request, [], [], time, out);
    if (!out.get(request.key)?.ok) return;
    for (const check of await this.failingInBatch(endpoint, request, batched, time)) {
      if (this.alone.has(templateOf(check))) continue;
      this.alone.add(templateOf(check));
      this.options.warn?.("a check's queries work alone but not in a batch; they are read one by one from now on", {
        check: check.name,
        requests: check.queries.requests,
        errors: check.queries.errors,
      });
    }
  }

  /** Which of a request's checks break a batch (the others may stay batched). */
  private async failingInBatch(
    endpoint: PrometheusEndpoint,
    request: SampleRequest,
    batched: readonly CounterCheckSettings[],
    time: number,
  ): Promise<CounterCheckSettings[]> {
    if (batched.length <= 1) return [...batched];
    const failing: CounterCheckSettings[] = [];
    for (const check of batched) {
      try {
        await this.reader.queryBatch(endpoint, Object.values(counterQueries(check.queries, request.ctx)), time);
      } catch (err) {
        if (err instanceof PrometheusError && err.kind === "invalid") failing.push(check);
      }
    }
    return failing;
  }
}

const templateOf = (check: CounterCheckSettings) => `${check.queries.requests}\u0000${check.queries.errors}`;
