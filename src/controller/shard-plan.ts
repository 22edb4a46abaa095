// How operator replicas share the Rollouts (pure). Every Rollout belongs to one of S shards by a
// stable hash of its namespace/name; each shard is a coordination.k8s.io Lease that at most one
// replica holds; each replica aims at its fair share of the shards among the replicas alive now
// (src/controller/shard-coordinator.ts does the Lease I/O). A replica that joins raises nobody's
// share but lowers the others', so each gives up only its extras and only those move; a replica
// that dies stops renewing, its shards expire, and the others' shares grow to take them.

/** FNV-1a, 32 bits: the same shard for a Rollout on every replica and every restart. */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** How many shards `identity` should hold: S split evenly over the live replicas (sorted by
 * identity, so every replica computes the same split), the first S mod M taking one more. */
export function fairShare(identity: string, live: readonly string[], shards: number): number {
  const members = [...new Set([...live, identity])].sort();
  const rank = members.indexOf(identity);
  return Math.floor(shards / members.length) + (rank < shards % members.length ? 1 : 0);
}

export interface ShardView {
  shard: number;
  /** Who holds it now ("" when released). */
  holder: string;
  /** Its holder stopped renewing it for a whole lease duration (as this replica measured). */
  expired: boolean;
}

export interface ShardPlan {
  acquire: number[];
  release: number[];
}

/** What to acquire (free or expired shards, up to the fair share) and what to give up (the
 * extras above it, highest first), given the shards as this replica sees them. */
export function planShards(identity: string, live: readonly string[], views: readonly ShardView[]): ShardPlan {
  const target = fairShare(identity, live, views.length);
  const held = views.filter((v) => v.holder === identity).map((v) => v.shard);
  if (held.length > target) return { acquire: [], release: held.sort((a, b) => b - a).slice(0, held.length - target) };
  const free = views.filter((v) => v.holder !== identity && (v.holder === "" || v.expired)).map((v) => v.shard);
  return { acquire: free.slice(0, target - held.length), release: [] };
}
