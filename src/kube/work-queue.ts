// A keyed work queue, as in controller-runtime: a key is processed by one worker at a time;
// adding a key that is being processed marks it to run again afterwards; delayed adds are
// timers that keep the earliest due time; errors back off per key.

export interface WorkResult {
  requeueAfterMs?: number;
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
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
    return this.ready.length;
  }

  add(key: string, delayMs = 0): void {
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
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
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
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
      if (this.active === 0 && this.ready.length === 0) {
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      }
    }
  }

  /** Forgets the keys `matches` picks (waiting, delayed, due again) and waits until none of them is
   * being processed any more: a shard handed to another replica must be idle here first. */
  async drop(matches: (key: string) => boolean): Promise<void> {
    for (let i = this.ready.length - 1; i >= 0; i--) {
      const key = this.ready[i] as string;
      if (!matches(key)) continue;
      this.ready.splice(i, 1);
      this.queued.delete(key);
    }
    for (const [key, { timer }] of this.timers)
      if (matches(key)) {
        clearTimeout(timer);
        this.timers.delete(key);
      }
    for (const key of this.dirty) if (matches(key)) this.dirty.delete(key);
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
    this.ready.length = 0;
    if (this.active > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
