// A keyed work queue, as in controller-runtime: a key is processed by one worker at a time;
// adding a key that is being processed marks it to run again afterwards; delayed adds are
// timers that keep the earliest due time; errors back off per key.
//
// Two lanes, as in controller-runtime's priority queue: a resync (every Rollout handed over again
// every few minutes, or all of them when a replica starts leading) goes in the low lane, so a
// canary due for its next analysis, or a Deployment that just became ready, never waits behind
// thousands of Rollouts that have nothing to do.

export interface WorkResult {
  requeueAfterMs?: number;
}

export type Lane = "high" | "low";

export class WorkQueue {
  /** Each lane in the order its keys came; a key moved up to the high lane leaves a stale entry
   * in the low one, skipped when reached (`queued` says which lane a key is in). */
  private readonly lanes: Record<Lane, string[]> = { high: [], low: [] };
  private readonly queued = new Map<string, Lane>();
  private readonly processing = new Set<string>();
  /** Keys added while being processed, to run again afterwards (in the higher lane they were added in). */
  private readonly dirty = new Map<string, Lane>();
  private readonly timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly worker: (key: string) => Promise<WorkResult>,
    private readonly concurrency = 4,
    private readonly onError: (key: string, err: unknown) => void = () => {},
    /** Keys this queue may take now (a sharded operator: the Rollouts of the shards it holds). */
    private readonly accepts: (key: string) => boolean = () => true,
  ) {}

  depth(): number {
    return this.queued.size;
  }

  /** A key to process again with nothing known to have changed (a resync): after every key of the high lane. */
  addLow(key: string): void {
    this.add(key, 0, "low");
  }

  add(key: string, delayMs = 0, lane: Lane = "high"): void {
    if (this.stopped || !this.accepts(key)) return;
    if (delayMs > 0) {
      const due = Date.now() + delayMs;
      const existing = this.timers.get(key);
      if (existing && existing.due <= due) return;
      if (existing) clearTimeout(existing.timer);
      const timer = setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, delayMs);
      timer.unref();
      this.timers.set(key, { due, timer });
      return;
    }
    if (this.processing.has(key)) {
      if (this.dirty.get(key) !== "high") this.dirty.set(key, lane);
      return;
    }
    const waiting = this.queued.get(key);
    if (waiting === "high" || waiting === lane) return;
    this.queued.set(key, lane);
    this.lanes[lane].push(key);
    this.pump();
  }

  /** The next key to process: the high lane first, then the low; stale entries dropped on the way. */
  private next(): string | undefined {
    for (const lane of ["high", "low"] as const) {
      const keys = this.lanes[lane];
      while (keys.length > 0) {
        const key = keys.shift() as string;
        if (this.queued.get(key) === lane) return key;
      }
    }
    return undefined;
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency) {
      const key = this.next();
      if (key === undefined) return;
      this.queued.delete(key);
      this.processing.add(key);
      this.active += 1;
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.worker(key);
      this.failures.delete(key);
      if (result.requeueAfterMs !== undefined) this.add(key, Math.max(result.requeueAfterMs, 1));
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.onError(key, err);
      // 0.5 s, 1 s, 2 s … capped at 5 min, with jitter so many rollouts do not retry in step: a
      // Rollout that cannot be applied (a full Service range, a quota) costs a few writes an hour.
      const backoff = Math.min(300_000, 500 * 2 ** (n - 1)) * (0.8 + Math.random() * 0.4);
      this.add(key, backoff);
    } finally {
      this.processing.delete(key);
      this.active -= 1;
      const again = this.dirty.get(key);
      this.dirty.delete(key);
      if (again) this.add(key, 0, again);
      this.pump();
      if (this.active === 0 && this.queued.size === 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }

  /** Forgets the keys `matches` picks (waiting, delayed, due again) and waits until none of them is
   * being processed any more: a shard handed to another replica must be idle here first. */
  async drop(matches: (key: string) => boolean): Promise<void> {
    for (const lane of ["high", "low"] as const) this.lanes[lane] = this.lanes[lane].filter((key) => !matches(key));
    for (const key of this.queued.keys()) if (matches(key)) this.queued.delete(key);
    for (const [key, { timer }] of this.timers)
      if (matches(key)) {
        clearTimeout(timer);
        this.timers.delete(key);
      }
    for (const key of this.dirty.keys()) if (matches(key)) this.dirty.delete(key);
    for (const key of this.failures.keys()) if (matches(key)) this.failures.delete(key);
    while ([...this.processing].some(matches)) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const [key, { timer }] of this.timers)
      if (matches(key)) {
        clearTimeout(timer);
        this.timers.delete(key);
      }
  }

  /** Stops taking work and waits for the reconciles in flight. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.lanes.high.length = 0;
    this.lanes.low.length = 0;
    this.queued.clear();
    if (this.active > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
