// A hardened informer. client-node's informer stops for good on any error other than 410, so
// this wrapper restarts it with backoff and jitter, resyncs every few minutes (every object is
// handed to the handler again), and restarts a watch that has gone silent for too long
// (watchdog). Its watches ask for bookmarks (QuietWatch), so a quiet one stays open.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

export interface WatchHandlers<T> {
  /** `resync`: handed over again with no change seen (a resync, or the catch-up after a restart). */
  onChange(object: T, resync?: boolean): void;
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
  /** How often every cached object is handed to onChange again; 0: never (a restart still does). */
  resyncMs?: number;
  silenceMs?: number;
}

/** How long a watch may stay without a byte before client-node drops it and watches again. */
export const WATCH_INACTIVITY_MS = 90_000;

/**
 * client-node's watch with bookmarks asked for. Its own inactivity timeout (30 s) closed every
 * quiet watch and opened it again: two requests a minute for each kind that did not change
 * (14 a minute for an idle operator, against Argo Rollouts' 1: docs/benchmarks.md, "Idle
 * cost"). The API server sends a bookmark to such a watch about once a minute, so with the
 * timeout above that, a quiet watch stays open until the server ends it (30 to 60 minutes);
 * each event, bookmarks included, tells the watchdog the watch is alive.
 */
export class QuietWatch extends k8s.Watch {
  constructor(
    config: k8s.KubeConfig,
    private readonly heard: () => void,
  ) {
    super(config);
    // A private field of client-node's Watch (test/unit/kube-plumbing.test.ts checks it is still there).
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_INACTIVITY_MS;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    // biome-ignore lint/suspicious/noExplicitAny: client-node's own signature
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    // biome-ignore lint/suspicious/noExplicitAny: client-node's own signature
    done: (err: any) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, apiObj, watchObj) => {
        this.heard();
        callback(phase, apiObj, watchObj);
      },
      done,
    );
  }
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
    if (this.o.resyncMs !== 0) {
      const resync = setInterval(() => this.resync(), this.o.resyncMs ?? 300_000);
      resync.unref();
      this.timers.push(resync);
    }
    const watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > (this.o.silenceMs ?? 120_000)) {
        this.o.log.warn("watch silent for too long; restarting it", { watch: this.o.name });
        this.scheduleRestart(0);
      }
    }, 15_000);
    watchdog.unref();
    this.timers.push(watchdog);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer?.list(namespace) ?? [];
  }

  resync(): void {
    for (const object of this.list()) this.o.handlers.onChange(object, true);
  }

  private async startInformer(): Promise<void> {
    const list = () => {
      this.o.metrics?.kubeReads.inc({ verb: "list", resource: this.o.name });
      return this.o.list();
    };
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    const heard = () => {
      if (current()) this.lastHeard = Date.now();
    };
    // QuietWatch hears every event of the watch (bookmarks too); "connect" covers a reconnect.
    const informer = new k8s.ListWatch<T>(this.o.path, new QuietWatch(this.o.kc, heard), list, false, this.o.labelSelector);
    // A restarted watch lists everything again as "add": what the old cache held at the same
    // resourceVersion has not changed, and is handed over as a resync (the queue's low lane).
    const unchanged = (obj: T) => {
      const before = this.informer?.get(obj.metadata?.name ?? "", obj.metadata?.namespace);
      return before !== undefined && before.metadata?.resourceVersion === obj.metadata?.resourceVersion;
    };
    informer.on("add", (obj) => {
      if (current()) this.o.handlers.onChange(obj, unchanged(obj));
    });
    informer.on("update", (obj) => {
      if (current()) this.o.handlers.onChange(obj);
    });
    informer.on("delete", (obj) => {
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
    if (previous) {
      await previous.stop().catch(() => undefined);
      // The new watch began with an empty cache, so it reports no delete of what went while the
      // old one was down: report those here.
      for (const gone of previous.list()) {
        if (!informer.get(gone.metadata?.name ?? "", gone.metadata?.namespace)) this.o.handlers.onDelete(gone);
      }
    }
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
