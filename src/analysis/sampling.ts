// How the reconciler gets an analysis sample: the narrow interface it depends on, and the
// simplest implementation (read now, one Rollout at a time). The operator uses the batched one
// (src/analysis/batched-sampler.ts), which reads for many Rollouts at once, off the reconcile path.
import type { Sample } from "./analysis-tick.js";
import type { CheckSettings } from "./checks.js";
import type { CounterSample } from "./counter-check.js";
import { type PrometheusEndpoint, PrometheusError, type PrometheusReader, type QueryContext } from "./prometheus-reader.js";

/** Each counter check's last snapshot, for telling history from new counts in series that appear. */
export type PreviousCounters = Record<string, { counters: CounterSample; evaluatedAt: number } | undefined>;

export interface SampleRequest {
  /** The Rollout (namespace/name). */
  key: string;
  /** The analysis state the sample is for (revision, last sample, weight): a sample taken for
   * another state is never applied to this one. */
  basis: string;
  endpoint: PrometheusEndpoint;
  checks: readonly CheckSettings[];
  ctx: QueryContext;
  previous: PreviousCounters;
  /** Read no earlier than this (ms since the epoch): the next sample of an analysis, asked for
   * when the last one was taken, so that one reconcile per interval does (batched sampler). */
  notBefore?: number;
}

export interface AnalysisSampler {
  /** A sample for the request, or undefined when it is not read yet: the batched sampler then
   * reads it with the next batch and calls back (its onReady) so the Rollout is reconciled again. */
  sample(request: SampleRequest): Promise<Sample | undefined>;
  /** The Rollout is gone, or owned by another replica now. */
  forget(key: string): void;
}

/** A sample's outcome from an error: its kind (outage, broken query, refused credentials) decides what the analysis does. */
export function errorSample(at: string, err: unknown): Sample {
  return { at, ok: false, error: (err as Error).message, kind: err instanceof PrometheusError ? err.kind : "unavailable" };
}

/** Reads at once, inside the reconcile: for tests and for one-off use, not for hundreds of Rollouts. */
export class InlineSampler implements AnalysisSampler {
  constructor(
    private readonly reader: Pick<PrometheusReader, "sampleChecks">,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sample(request: SampleRequest): Promise<Sample> {
    const at = this.now().toISOString();
    try {
      const readings = await this.reader.sampleChecks(request.endpoint, request.checks, request.ctx, request.previous);
      return { at, ok: true, readings };
    } catch (err) {
      return errorSample(at, err);
    }
  }

  forget(): void {}
}
