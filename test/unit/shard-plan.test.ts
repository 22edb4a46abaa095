// How replicas share the shards (src/controller/shard-plan.ts): a stable, even mapping of Rollouts
// to shards, fair shares, and convergence when a replica joins or dies, with only its share moving.
import { describe, expect, it } from "vitest";
import { fairShare, planShards, type ShardView, shardOf } from "../../src/controller/shard-plan.js";

/** Runs rounds of every live replica's plan (each sees the others' last moves) until nothing changes. */
function converge(holders: string[], live: string[], dead: string[] = []): { holders: string[]; rounds: number } {
  const now = [...holders];
  for (let round = 1; round <= 20; round++) {
    let moved = false;
    for (const me of live) {
      const views: ShardView[] = now.map((holder, shard) => ({ shard, holder, expired: dead.includes(holder) }));
      const plan = planShards(me, live, views);
      for (const s of plan.release) now[s] = "";
      for (const s of plan.acquire) now[s] = me;
      moved ||= plan.release.length + plan.acquire.length > 0;
    }
    if (!moved) return { holders: now, rounds: round };
  }
  throw new Error("did not converge");
}

const count = (holders: string[], who: string) => holders.filter((h) => h === who).length;

describe("sharding", () => {
  it("maps a Rollout to the same shard every time, and spreads many evenly", () => {
    expect(shardOf("shop/checkout", 16)).toBe(shardOf("shop/checkout", 16));
    const perShard = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) perShard[shardOf(`ns${i % 37}/svc${i}`, 16)] += 1;
    expect(Math.min(...perShard)).toBeGreaterThan(800);
    expect(Math.max(...perShard)).toBeLessThan(1200);
  });

  it("splits S shards over M replicas as evenly as possible, the same split on every replica", () => {
    const live = ["b", "a", "c"];
    expect(live.map((me) => fairShare(me, live, 16))).toEqual([5, 6, 5]);
    expect(["a", "b", "c"].reduce((sum, me) => sum + fairShare(me, live, 16), 0)).toBe(16);
    expect(fairShare("a", [], 16)).toBe(16); // alone
  });

  it("three replicas from nothing: every shard held once, shares even", () => {
    const { holders } = converge(new Array(12).fill(""), ["a", "b", "c"]);
    expect(holders.every((h) => h !== "")).toBe(true);
    expect(["a", "b", "c"].map((r) => count(holders, r))).toEqual([4, 4, 4]);
  });

  it("a fourth replica joins: only its share moves, and it gets it", () => {
    const before = converge(new Array(12).fill(""), ["a", "b", "c"]).holders;
    const after = converge(before, ["a", "b", "c", "d"]).holders;
    const moved = after.filter((h, i) => h !== before[i]).length;
    expect(count(after, "d")).toBe(3);
    expect(moved).toBe(3);
    expect(["a", "b", "c"].map((r) => count(after, r))).toEqual([3, 3, 3]);
  });

  it("a replica dies: its shards, once expired, go to the others and nothing else moves", () => {
    const before = converge(new Array(12).fill(""), ["a", "b", "c"]).holders;
    const after = converge(before, ["a", "b"], ["c"]).holders;
    expect(count(after, "c")).toBe(0);
    expect(count(after, "a") + count(after, "b")).toBe(12);
    expect(after.filter((h, i) => before[i] !== "c" && h !== before[i])).toEqual([]);
  });

  it("never takes a shard another live replica holds and renews", () => {
    const views: ShardView[] = [
      { shard: 0, holder: "b", expired: false },
      { shard: 1, holder: "b", expired: false },
    ];
    expect(planShards("a", ["a", "b"], views)).toEqual({ acquire: [], release: [] });
  });
});
