// A hardened informer. client-node's informer stops for good on any error other than 410 and
// sends no bookmarks, so this wrapper restarts it with backoff and jitter, resyncs every few
// minutes (every object is handed to the handler again), and restarts a watch that has gone
// silent for too long (watchdog).
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

export interface WatchHandlers<T> {
  onChange(object: T): void;
  onDelete(object: T): void;
}

export interface WatcherOptions<T extends k8s.KubernetesObject> {
  name: string;
  kc: k8s.KubeConfig;
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  labelSelector?: string;
  handlers: WatchHandlers<T>;
  log: Logger;
  metrics?: Metrics;
  resyncMs?: number;
  silenceMs?: number;
}

export class Watcher<T extends k8s.KubernetesObject> {
  private informer: (k8s.Informer<T> & k8s.ObjectCache<T>) | undefined;
  private restarts = 0;
  private lastHeard = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Bumped for each informer started: callbacks of a replaced informer are ignored. */
  private generation = 0;
  synced = false;

  constructor(private readonly o: WatcherOptions<T>) {}

  async start(): Promise<void> {
    await this.startInformer();
    const resync = setInterval(() => this.resync(), this.o.resyncMs ?? 300_000);
    const watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > (this.o.silenceMs ?? 120_000)) {
        this.o.log.warn("watch silent for too long; restarting it", { watch: this.o.name });
        this.scheduleRestart(0);
      }
    }, 15_000);
    resync.unref();
    watchdog.unref();
    this.timers.push(resync, watchdog);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer?.list(namespace) ?? [];
  }

  resync(): void {
    for (const object of this.list()) this.o.handlers.onChange(object);
  }

  private async startInformer(): Promise<void> {
    const list = () => {
      this.o.metrics?.kubeReads.inc({ verb: "list", resource: this.o.name });
      return this.o.list();
    };
    const informer = k8s.makeInformer<T>(this.o.kc, this.o.path, list, this.o.labelSelector);
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const heard = () => {
      this.lastHeard = Date.now();
    };
    informer.on("add", (obj) => {
      heard();
      if (current()) this.o.handlers.onChange(obj);
    });
    informer.on("update", (obj) => {
      heard();
      if (current()) this.o.handlers.onChange(obj);
    });
    informer.on("delete", (obj) => {
      heard();
      if (current()) this.o.handlers.onDelete(obj);
    });
    informer.on("connect", heard);
    informer.on("error", (err) => {
      // A replaced informer reports its own stop as an error: that is not a failure.
      if (!current() || this.stopped) return;
      this.o.log.warn("watch failed; restarting with backoff", { watch: this.o.name, error: String(err) });
      this.scheduleRestart();
    });
    await informer.start();
    const previous = this.informer;
    this.informer = informer;
    this.synced = true;
    this.lastHeard = Date.now();
    if (previous) await previous.stop().catch(() => undefined);
    // Objects may have changed while the watch was down.
    this.resync();
  }

  private scheduleRestart(delayMs?: number): void {
    if (this.stopped || this.restartTimer) return;
    this.restarts += 1;
    const backoff = delayMs ?? Math.min(30_000, 1000 * 2 ** Math.min(this.restarts - 1, 5)) * (0.5 + Math.random());
    this.restartTimer = setTimeout(async () => {
      this.restartTimer = undefined;
      this.o.metrics?.watchRestarts.inc({ resource: this.o.name });
      try {
        await this.startInformer();
        this.restarts = 0;
      } catch (err) {
        this.o.log.warn("watch restart failed", { watch: this.o.name, error: String(err) });
        this.scheduleRestart();
      }
    }, backoff);
    this.restartTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.informer?.stop().catch(() => undefined);
  }
}
