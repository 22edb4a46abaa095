// Which Rollouts name which objects (their Ingress or HTTPRoute, AnalysisPolicy, referenced
// Deployment): a change of one of those wakes exactly the Rollouts that name it, not every
// Rollout of its namespace — with thousands of Rollouts in one namespace, the difference between
// one reconcile and thousands per edit.

/** "Kind/namespace/name". */
export type Ref = string;

export const ref = (kind: string, namespace: string | undefined, name: string | undefined): Ref =>
  `${kind}/${namespace ?? ""}/${name ?? ""}`;

export class ReferenceIndex {
  private readonly byRef = new Map<Ref, Set<string>>();
  private readonly refsOf = new Map<string, readonly Ref[]>();

  /** Records what the Rollout with this key names now (replacing what it named before). */
  set(key: string, refs: readonly Ref[]): void {
    this.remove(key);
    this.refsOf.set(key, refs);
    for (const r of refs) {
      const keys = this.byRef.get(r) ?? new Set<string>();
      keys.add(key);
      this.byRef.set(r, keys);
    }
  }

  remove(key: string): void {
    for (const r of this.refsOf.get(key) ?? []) {
      const keys = this.byRef.get(r);
      keys?.delete(key);
      if (keys?.size === 0) this.byRef.delete(r);
    }
    this.refsOf.delete(key);
  }

  /** The Rollouts that name this object. */
  lookup(r: Ref): string[] {
    return [...(this.byRef.get(r) ?? [])];
  }

  /** What the Rollout with this key names. */
  refs(key: string): readonly Ref[] {
    return this.refsOf.get(key) ?? [];
  }
}
