// Leader election on a coordination.k8s.io/v1 Lease (client-node has no helper): only the
// leader reconciles. Timings follow client-go's defaults: a 15 s lease, a 10 s renew deadline,
// a 2 s retry. A replica takes over only when the record it observed has not changed for a
// whole lease duration (measured on its own clock, so clock skew between nodes does not
// matter). A leader that cannot renew within the deadline steps down; SIGTERM releases the
// lease so a standby takes over at once.
import * as k8s from "@kubernetes/client-node";
import { apiProblem } from "../kube/client.js";
import type { Logger } from "../observability/logger.js";

export interface LeaderElectionOptions {
  kc: k8s.KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private readonly api: k8s.CoordinationV1Api;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private leading = false;
  private lastRenew = 0;
  private observed: { record: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: LeaderElectionOptions) {
    this.api = o.kc.makeApiClient(k8s.CoordinationV1Api);
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.tryAcquireOrRenew().catch((err) => this.o.log.warn("leader election round failed", { error: apiProblem(err).message }));
      if (this.leading && Date.now() - this.lastRenew > this.renewDeadlineMs) {
        this.o.log.error("could not renew the leader lease within the renew deadline; stepping down", { lease: this.o.name });
        this.leading = false;
        this.o.onStoppedLeading();
        return;
      }
      if (!this.stopped) this.timer = setTimeout(loop, this.retryMs);
    };
    void loop();
  }

  private spec(transitions: number, acquireTime?: k8s.V1MicroTime): k8s.V1LeaseSpec {
    const now = new k8s.V1MicroTime();
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.round(this.leaseMs / 1000),
      acquireTime: acquireTime ?? now,
      renewTime: now,
      leaseTransitions: transitions,
    };
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, name } = this.o;
    let lease: k8s.V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (apiProblem(err).code !== 404) throw err;
      await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(0) } });
      this.becameLeader();
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    if (holder === this.o.identity) {
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: this.spec(spec.leaseTransitions ?? 0, spec.acquireTime) },
      });
      this.lastRenew = Date.now();
      if (!this.leading) this.becameLeader();
      return;
    }
    // Someone else's (or nobody's) record: take over only once it has gone stale.
    const record = `${holder}|${spec.renewTime ? new Date(spec.renewTime).toISOString() : ""}|${lease.metadata?.resourceVersion}`;
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const released = holder === "";
    if (!released && Date.now() - this.observed.at < this.leaseMs) return;
    // resourceVersion makes this a compare-and-swap: of two standbys, one wins.
    await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec((spec.leaseTransitions ?? 0) + 1) } });
    this.becameLeader();
  }

  private becameLeader(): void {
    this.lastRenew = Date.now();
    if (this.leading) return;
    this.leading = true;
    this.o.log.info("became the leader", { lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity });
    this.o.onStartedLeading();
  }

  /** Stops electing; a leader releases the lease so a standby takes over without waiting. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
      if (lease.spec?.holderIdentity === this.o.identity) {
        await this.api.replaceNamespacedLease({
          name: this.o.name,
          namespace: this.o.namespace,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: new k8s.V1MicroTime() } },
        });
        this.o.log.info("released the leader lease", { lease: `${this.o.namespace}/${this.o.name}` });
      }
    } catch (err) {
      this.o.log.warn("could not release the leader lease", { error: apiProblem(err).message });
    }
  }
}
