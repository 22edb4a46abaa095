// The small pieces between the operator and the API server: the reference index (a change wakes
// only the Rollouts that name the object) and the token bucket (writes wait their turn).
import { afterEach, describe, expect, it, vi } from "vitest";
import { TokenBucket } from "../../src/kube/rate-limit.js";
import { ReferenceIndex, ref } from "../../src/kube/reference-index.js";

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
    const k8s = await import("@kubernetes/client-node");
    const { reuseConnections } = await import("../../src/kube/connection-reuse.js");
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
