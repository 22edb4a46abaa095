// The small pieces between the operator and the API server: the reference index (a change wakes
// only the Rollouts that name the object), the label index (one Service's EndpointSlices without a
// scan), the token bucket (writes wait their turn), connection reuse and the watch.

import { createServer } from "node:http";
import type { KubernetesObject, V1EndpointSlice } from "@kubernetes/client-node";
import * as k8s from "@kubernetes/client-node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { reuseConnections } from "../../src/kube/connection-reuse.js";
import { LabelIndex } from "../../src/kube/label-index.js";
import { TokenBucket } from "../../src/kube/rate-limit.js";
import { ReferenceIndex, ref } from "../../src/kube/reference-index.js";
import { QuietWatch, WATCH_INACTIVITY_MS, Watcher } from "../../src/kube/watcher.js";
import { createLogger } from "../../src/observability/logger.js";

describe("the reference index", () => {
  it("finds the Rollouts that name an object, follows a Rollout's edits, and forgets a deleted one", () => {
    const index = new ReferenceIndex();
    index.set("shop/a", [ref("Ingress", "shop", "web"), ref("AnalysisPolicy", "shop", "p")]);
    index.set("shop/b", [ref("Ingress", "shop", "web")]);
    index.set("other/c", [ref("Ingress", "other", "web")]);
    expect(index.lookup(ref("Ingress", "shop", "web")).sort()).toEqual(["shop/a", "shop/b"]);
    expect(index.lookup(ref("AnalysisPolicy", "shop", "p"))).toEqual(["shop/a"]);
    index.set("shop/a", [ref("HTTPRoute", "shop", "web")]);
    expect(index.lookup(ref("Ingress", "shop", "web"))).toEqual(["shop/b"]);
    expect(index.lookup(ref("AnalysisPolicy", "shop", "p"))).toEqual([]);
    index.remove("shop/b");
    expect(index.lookup(ref("Ingress", "shop", "web"))).toEqual([]);
    expect(index.refs("shop/a")).toEqual([ref("HTTPRoute", "shop", "web")]);
  });
});

describe("the label index", () => {
  const slice = (namespace: string, name: string, service?: string): V1EndpointSlice => ({
    addressType: "IPv4",
    endpoints: [],
    metadata: { namespace, name, labels: service ? { "kubernetes.io/service-name": service } : {} },
  });
  /** A cache as the watch keeps it, fed through the index's handlers as the watch feeds them. */
  const setup = () => {
    const cache = new Map<string, V1EndpointSlice>();
    const seen: string[] = [];
    const index = new LabelIndex<V1EndpointSlice>("kubernetes.io/service-name");
    const handlers = index.handlers({
      onChange: (o) => seen.push(`change ${o.metadata?.name}`),
      onDelete: (o) => seen.push(`delete ${o.metadata?.name}`),
    });
    const store = { get: (name: string, namespace?: string) => cache.get(`${namespace}/${name}`) };
    const put = (o: V1EndpointSlice) => {
      cache.set(`${o.metadata?.namespace}/${o.metadata?.name}`, o);
      handlers.onChange(o);
    };
    const drop = (o: V1EndpointSlice) => {
      cache.delete(`${o.metadata?.namespace}/${o.metadata?.name}`);
      handlers.onDelete(o);
    };
    const names = (namespace: string, service: string) =>
      index
        .of(store, namespace, service)
        .map((o) => o.metadata?.name)
        .sort();
    return { cache, seen, put, drop, names };
  };

  it("finds a Service's slices in its namespace, follows a relabel and a delete, and still calls the watch's handlers", () => {
    const { seen, put, drop, names } = setup();
    put(slice("shop", "web-canary-a", "web-canary"));
    put(slice("shop", "web-canary-b", "web-canary"));
    put(slice("shop", "web-stable-a", "web-stable"));
    put(slice("other", "web-canary-a", "web-canary"));
    put(slice("shop", "unlabelled"));
    expect(names("shop", "web-canary")).toEqual(["web-canary-a", "web-canary-b"]);
    expect(names("other", "web-canary")).toEqual(["web-canary-a"]);
    expect(names("shop", "nothing")).toEqual([]);
    put(slice("shop", "web-canary-b", "web-stable"));
    expect(names("shop", "web-canary")).toEqual(["web-canary-a"]);
    expect(names("shop", "web-stable")).toEqual(["web-canary-b", "web-stable-a"]);
    drop(slice("shop", "web-canary-a", "web-canary"));
    expect(names("shop", "web-canary")).toEqual([]);
    expect(seen).toContain("delete web-canary-a");
    expect(seen.filter((s) => s.startsWith("change"))).toHaveLength(6);
  });

  it("answers from the cache, so a slice whose delete it never heard is not returned", () => {
    const { cache, put, names } = setup();
    put(slice("shop", "web-canary-a", "web-canary"));
    put(slice("shop", "web-canary-b", "web-canary"));
    cache.delete("shop/web-canary-a"); // gone while the watch was down
    expect(names("shop", "web-canary")).toEqual(["web-canary-b"]);
  });
});

describe("the token bucket", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("lets a burst through at once, then `qps` a second, in order", async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(10, 5);
    const done: number[] = [];
    for (let i = 0; i < 15; i++) void bucket.take().then(() => done.push(Date.now()));
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toHaveLength(15);
    expect(done.at(-1)).toBeGreaterThanOrEqual(950);
    expect([...done].sort((a, b) => a - b)).toEqual(done);
  });
});

describe("connection reuse", () => {
  it("every request of one cluster and user gets the same dispatcher (client-node makes a new one each time)", async () => {
    const config = () => {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: true }],
        users: [{ name: "u", token: "t" }],
        contexts: [{ name: "x", cluster: "c", user: "u" }],
        currentContext: "x",
      });
      return kc;
    };
    const dispatcherOf = async (kc: InstanceType<typeof k8s.KubeConfig>) => {
      let dispatcher: unknown;
      await kc.applySecurityAuthentication({
        setHeaderParam: () => {},
        setDispatcher: (d: unknown) => {
          dispatcher = d;
        },
      } as never);
      return dispatcher;
    };
    const plain = config();
    expect(await dispatcherOf(plain)).not.toBe(await dispatcherOf(plain)); // what client-node does
    const reusing = reuseConnections(config());
    const first = await dispatcherOf(reusing);
    expect(first).toBeDefined();
    expect(await dispatcherOf(reusing)).toBe(first);
  });
});

describe("the watch of an informer", () => {
  it("asks for bookmarks, hears them, and gives a quiet watch 90 s, not client-node's 30 s, before dropping it", async () => {
    // A loopback API server that answers one watch with a bookmark and keeps the stream open.
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(req.url ?? "");
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`${JSON.stringify({ type: "BOOKMARK", object: { kind: "Rollout", metadata: { resourceVersion: "42" } } })}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], // client-node wants it for plain HTTP
        users: [{ name: "u" }],
        contexts: [{ name: "x", cluster: "c", user: "u" }],
        currentContext: "x",
      });
      // The timeout QuietWatch raises is a private field of client-node's Watch: if a release
      // renames it, the raise does nothing and this says so.
      expect(Object.hasOwn(new k8s.Watch(kc), "requestTimeoutMs")).toBe(true);
      let heard = 0;
      const watch = new QuietWatch(kc, () => {
        heard += 1;
      });
      expect((watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs).toBe(WATCH_INACTIVITY_MS);
      expect(WATCH_INACTIVITY_MS).toBeGreaterThan(60_000); // the API server's bookmarks come about once a minute
      const phases: string[] = [];
      const controller = await watch.watch(
        "/apis/fledge.dev/v1alpha1/rollouts",
        { resourceVersion: "7" },
        (phase) => phases.push(phase),
        () => {},
      );
      await expect.poll(() => phases).toEqual(["BOOKMARK"]);
      expect(heard).toBe(1);
      const query = new URL(asked[0] ?? "", "http://x").searchParams;
      expect(query.get("allowWatchBookmarks")).toBe("true");
      expect(query.get("resourceVersion")).toBe("7");
      expect(query.get("watch")).toBe("true");
      controller.abort();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("a watch that restarts", () => {
  it("reports the deletes it missed, and hands over what did not change as a resync", async () => {
    // A loopback API server whose watches send nothing and stay open, until the test breaks one.
    const watches: Array<{ destroy(): void }> = [];
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write("");
      watches.push(req.socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const rollout = (name: string, resourceVersion: string) => ({ metadata: { name, namespace: "shop", resourceVersion } });
    const lists = [
      [rollout("a", "1"), rollout("b", "1"), rollout("c", "1")],
      [rollout("a", "1"), rollout("b", "2")], // while the watch was down: b changed, c was deleted
    ];
    const events: string[] = [];
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${(server.address() as { port: number }).port}`, skipTLSVerify: true }],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const watcher = new Watcher<KubernetesObject>({
      name: "rollouts",
      kc,
      path: "/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts",
      list: async () => ({ metadata: { resourceVersion: "10" }, items: lists.shift() ?? [] }),
      handlers: {
        onChange: (o, resync) => events.push(`${resync ? "resync" : "change"} ${o.metadata?.name}`),
        onDelete: (o) => events.push(`delete ${o.metadata?.name}`),
      },
      log: createLogger("error", "test"),
      resyncMs: 0,
    });
    try {
      await watcher.start();
      await expect.poll(() => watches.length).toBe(1);
      expect(events.splice(0)).toEqual(["change a", "change b", "change c", "resync a", "resync b", "resync c"]);
      watches[0]?.destroy(); // the watch fails: the Watcher starts a new list and watch, after a backoff
      await expect.poll(() => events.length, { timeout: 5_000 }).toBe(5);
      expect(events).toEqual(["resync a", "change b", "delete c", "resync a", "resync b"]);
      expect(watcher.get("c", "shop")).toBeUndefined();
    } finally {
      await watcher.stop();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
