// Counter hygiene: the operator reads raw cumulative counters per series and takes the
// differences itself, instead of trusting increase()/rate() (which extrapolate and miss the
// first increment of a series born at 1). Pure functions over plain maps.

/** Series key → cumulative counter value, as read at one instant. */
export type SeriesValues = Record<string, number>;

export interface CounterDelta {
  /** Sum of the increases of all series since the previous snapshot. */
  increase: number;
  /** The snapshot to keep for the next difference. */
  next: SeriesValues;
  /** Series whose counter went down: a restart. */
  resets: number;
  /** Series seen for the first time after the baseline: counted from 0. */
  born: number;
}

/**
 * Differences `current` against `previous`.
 * - A series that went down was reset (a pod restarted): its whole current value is new.
 * - A series absent from `previous` is late-born (e.g. the first 5xx of a status code): it
 *   started at 0 after the baseline, so its whole value is new — unless this is the baseline.
 * - A series missing from `current` (a missed scrape) keeps its last value, so that when it
 *   returns it is differenced, not counted again from 0.
 */
export function differenceCounters(previous: SeriesValues | undefined, current: SeriesValues): CounterDelta {
  const baseline = previous === undefined;
  const next: SeriesValues = { ...(previous ?? {}) };
  let increase = 0;
  let resets = 0;
  let born = 0;
  for (const [series, value] of Object.entries(current)) {
    if (!Number.isFinite(value) || value < 0) continue;
    const before = previous?.[series];
    if (before === undefined) {
      if (!baseline) {
        increase += value;
        born += 1;
      }
    } else if (value >= before) {
      increase += value - before;
    } else {
      increase += value;
      resets += 1;
    }
    next[series] = value;
  }
  return { increase, next, resets, born };
}
