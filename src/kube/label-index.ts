// The objects of a cache grouped by one label's value, kept from the watch's events: a lookup of
// one group instead of a copy and scan of the namespace. An operator with thousands of Rollouts
// in one namespace holds two EndpointSlices for each; reading one Service's slices by scanning
// all of them, every reconcile, made a resync quadratic.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { WatchHandlers } from "./watcher.js";

export interface ObjectGetter<T> {
  get(name: string, namespace?: string): T | undefined;
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

export class LabelIndex<T extends KubernetesObject> {
  /** "namespace/label value" → names of the objects. */
  private readonly members = new Map<string, Set<string>>();
  /** "namespace/name" → the group it was filed under. */
  private readonly groupOf = new Map<string, string>();

  constructor(private readonly label: string) {}

  /** Wraps a watch's handlers so the index sees each event before they do. */
  handlers(inner: WatchHandlers<T>): WatchHandlers<T> {
    return {
      onChange: (o, resync) => {
        this.file(o);
        inner.onChange(o, resync);
      },
      onDelete: (o) => {
        this.unfile(keyOf(o));
        inner.onDelete(o);
      },
    };
  }

  /** The objects of this namespace whose label has this value, read from the cache itself: an
   * entry whose delete the index missed (a watch restarted over it) is never returned. */
  of(store: ObjectGetter<T>, namespace: string, value: string): T[] {
    const names = this.members.get(`${namespace}/${value}`);
    if (!names) return [];
    const found: T[] = [];
    for (const name of names) {
      const object = store.get(name, namespace);
      if (object?.metadata?.labels?.[this.label] === value) found.push(object);
    }
    return found;
  }

  private file(o: KubernetesObject): void {
    const key = keyOf(o);
    const value = o.metadata?.labels?.[this.label];
    const group = value === undefined ? undefined : `${o.metadata?.namespace ?? ""}/${value}`;
    if (this.groupOf.get(key) === group) return;
    this.unfile(key);
    if (group === undefined) return;
    const names = this.members.get(group) ?? new Set<string>();
    names.add(o.metadata?.name ?? "");
    this.members.set(group, names);
    this.groupOf.set(key, group);
  }

  private unfile(key: string): void {
    const group = this.groupOf.get(key);
    if (group === undefined) return;
    const names = this.members.get(group);
    names?.delete(key.slice(key.indexOf("/") + 1));
    if (names?.size === 0) this.members.delete(group);
    this.groupOf.delete(key);
  }
}
