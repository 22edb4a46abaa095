// The Lease side of sharding (src/controller/shard-plan.ts decides; this reads and writes). Every
// replica renews a member Lease (so the others know it is alive) and the shard Leases it holds,
// every retry period; a Lease changes hands only by a compare-and-swap on its resourceVersion, so
// of two replicas reaching for one shard one wins. Timings: an 8 s lease, a 5 s renew deadline, a
// 2 s retry — shorter than client-go's leader election (15/10/2), so that a dead replica's shards
// are taken over within 20 s even on a loaded API server (15–17 s measured with 10/6/2). A replica counts a shard as its own only until
// its last successful renewal plus the renew deadline, which ends before any other replica may
// take the shard over (after the record stood unchanged for a whole lease duration, measured on
// its own clock): that is the fence that keeps two replicas from reconciling one Rollout at once.
import * as k8s from "@kubernetes/client-node";
import { apiProblem } from "../kube/client.js";
import type { Logger } from "../observability/logger.js";
import { planShards, type ShardView, shardOf } from "./shard-plan.js";

export const LABEL_LEASE_GROUP = "fledge.dev/lease-group";
export const LABEL_LEASE_ROLE = "fledge.dev/lease-role";
export const LABEL_SHARD = "fledge.dev/shard";
export const LABEL_SHARDS = "fledge.dev/shards";

export interface ShardingOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  namespace: string;
  /** Prefix of the Lease names: <name>-shard-<k>, <name>-member-<identity>. */
  name: string;
  identity: string;
  shards: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** A shard became this replica's: its Rollouts should be reconciled now. */
  onAcquired: (shard: number) => void;
  /** Before a shard is given up: stop and wait for the work on its Rollouts. */
  onReleasing: (shard: number) => Promise<void>;
  /** A shard was lost without being given up (a renewal failed past its deadline). */
  onLost: (shard: number) => void;
}

const leaseName = (value: string) =>
  value
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);

export class ShardCoordinator {
  private readonly api: k8s.CoordinationV1Api;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  /** shard → until when this replica may act on it (its last renewal + the renew deadline). */
  private readonly heldUntil = new Map<number, number>();
  /** Lease name → the record last seen and when it was first seen (for expiry on our own clock). */
  private readonly observed = new Map<string, { record: string; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly o: ShardingOptions) {
    this.api = o.kc.makeApiClient(k8s.CoordinationV1Api);
    this.leaseMs = o.leaseDurationMs ?? 8_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 5_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
  }

  shardOf(key: string): number {
    return shardOf(key, this.o.shards);
  }

  /** Whether this replica may reconcile (and write for) the Rollout with this key right now. */
  owns(key: string): boolean {
    return (this.heldUntil.get(this.shardOf(key)) ?? 0) > Date.now();
  }

  held(): number[] {
    return [...this.heldUntil.keys()].filter((s) => (this.heldUntil.get(s) ?? 0) > Date.now()).sort((a, b) => a - b);
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.round().catch((err) => {
        this.o.log.warn("shard round failed", { error: apiProblem(err).message });
      });
      await this.running;
      if (!this.stopped) this.timer = setTimeout(loop, this.retryMs);
    };
    void loop();
  }

  private memberLease(): string {
    return leaseName(`${this.o.name}-member-${this.o.identity}`);
  }

  private shardLease(shard: number): string {
    return `${this.o.name}-shard-${shard}`;
  }

  private labels(role: "member" | "shard", shard?: number): Record<string, string> {
    return {
      [LABEL_LEASE_GROUP]: this.o.name,
      [LABEL_LEASE_ROLE]: role,
      ...(shard !== undefined ? { [LABEL_SHARD]: String(shard), [LABEL_SHARDS]: String(this.o.shards) } : {}),
    };
  }

  private spec(holder: string, previous?: k8s.V1LeaseSpec): k8s.V1LeaseSpec {
    const now = new k8s.V1MicroTime();
    const changed = (previous?.holderIdentity ?? "") !== holder;
    return {
      holderIdentity: holder,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      acquireTime: changed || !previous?.acquireTime ? now : previous.acquireTime,
      renewTime: now,
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (changed && holder !== "" ? 1 : 0),
    };
  }

  /** Whether the Lease's record has stood unchanged for a whole lease duration, on our clock. */
  private expired(lease: k8s.V1Lease): boolean {
    const name = lease.metadata?.name ?? "";
    const record = `${lease.spec?.holderIdentity}|${lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : ""}|${lease.metadata?.resourceVersion}`;
    const seen = this.observed.get(name);
    if (seen?.record !== record) {
      this.observed.set(name, { record, at: Date.now() });
      return false;
    }
    return Date.now() - seen.at >= this.leaseMs;
  }

  private async round(): Promise<void> {
    const { namespace } = this.o;
    const me = this.o.identity;
    const list = await this.api.listNamespacedLease({ namespace, labelSelector: `${LABEL_LEASE_GROUP}=${this.o.name}` });
    const byName = new Map(list.items.map((l) => [l.metadata?.name ?? "", l]));

    // 1. I am alive.
    const mine = byName.get(this.memberLease());
    if (mine)
      await this.api.replaceNamespacedLease({ name: this.memberLease(), namespace, body: { ...mine, spec: this.spec(me, mine.spec) } });
    else
      await this.api.createNamespacedLease({
        namespace,
        body: { metadata: { name: this.memberLease(), namespace, labels: this.labels("member") }, spec: this.spec(me) },
      });
    const live = list.items
      .filter((l) => l.metadata?.labels?.[LABEL_LEASE_ROLE] === "member" && l.spec?.holderIdentity)
      .filter((l) => l.spec?.holderIdentity === me || !this.expired(l))
      .map((l) => l.spec?.holderIdentity ?? "");

    // 2. The shards as they are; renew mine, notice any taken from me.
    const views: ShardView[] = [];
    for (let shard = 0; shard < this.o.shards; shard++) {
      const name = this.shardLease(shard);
      let lease = byName.get(name);
      if (!lease) {
        try {
          lease = await this.api.createNamespacedLease({
            namespace,
            body: {
              metadata: { name, namespace, labels: this.labels("shard", shard) },
              spec: { holderIdentity: "", leaseDurationSeconds: 1 },
            },
          });
        } catch (err) {
          if (apiProblem(err).code !== 409) throw err;
          continue; // another replica just made it: next round
        }
      }
      const holder = lease.spec?.holderIdentity ?? "";
      if (holder === me) {
        try {
          await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(me, lease.spec) } });
          const regained = !this.heldUntil.has(shard);
          this.heldUntil.set(shard, Date.now() + this.renewDeadlineMs);
          // Given up for a late renewal, yet nobody took it: its Rollouts are this replica's again.
          if (regained) this.o.onAcquired(shard);
        } catch (err) {
          this.o.log.warn("could not renew a shard lease", { shard, error: apiProblem(err).message });
        }
      } else if (this.heldUntil.has(shard)) {
        this.lose(shard, holder);
      }
      views.push({ shard, holder, expired: holder !== "" && holder !== me && this.expired(lease) });
    }
    for (const [shard, until] of this.heldUntil) if (until <= Date.now()) this.lose(shard, "(renewal failed)");

    // 3. Move toward my fair share.
    const plan = planShards(me, live, views);
    for (const shard of plan.release) await this.release(shard);
    for (const shard of plan.acquire) {
      const name = this.shardLease(shard);
      // The Lease exactly as it was judged free or expired: its resourceVersion makes the write a
      // compare-and-swap, which fails if anyone took it since (a fresh read here would let this
      // replica take a shard another had just acquired).
      const lease = byName.get(name);
      if (!lease) continue;
      try {
        await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(me, lease.spec) } });
      } catch (err) {
        if (apiProblem(err).code === 409) continue;
        throw err;
      }
      this.heldUntil.set(shard, Date.now() + this.renewDeadlineMs);
      this.o.log.info("acquired a shard", { shard, from: lease.spec?.holderIdentity || "(free)" });
      this.o.onAcquired(shard);
    }
  }

  private lose(shard: number, to: string): void {
    this.heldUntil.delete(shard);
    this.o.log.error("lost a shard", { shard, to });
    this.o.onLost(shard);
  }

  /** Stop the shard's work first, then hand the Lease over at once (no expiry to wait for). */
  private async release(shard: number): Promise<void> {
    this.heldUntil.delete(shard);
    await this.o.onReleasing(shard);
    const name = this.shardLease(shard);
    const current = await this.api.readNamespacedLease({ name, namespace: this.o.namespace });
    if (current.spec?.holderIdentity !== this.o.identity) return;
    await this.api
      .replaceNamespacedLease({ name, namespace: this.o.namespace, body: { ...current, spec: this.spec("", current.spec) } })
      .catch((err) => this.o.log.warn("could not release a shard lease", { shard, error: apiProblem(err).message }));
    this.o.log.info("released a shard", { shard });
  }

  /** Gives every shard up and leaves (SIGTERM): the others take them at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    for (const shard of [...this.heldUntil.keys()]) await this.release(shard).catch(() => undefined);
    await this.api.deleteNamespacedLease({ name: this.memberLease(), namespace: this.o.namespace }).catch(() => undefined);
  }
}
