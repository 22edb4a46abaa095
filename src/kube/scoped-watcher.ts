// One cache of a kind, watched only where the operator acts: one watch per namespace of
// --watch-namespaces (or one cluster-wide watch without it), each narrowed by a label selector
// where the objects are Fledge's own. An operator scoped to a few namespaces of a large cluster
// then holds none of the rest in memory and is woken by none of its changes.
import * as k8s from "@kubernetes/client-node";
import { Watcher, type WatcherOptions } from "./watcher.js";

export interface Resource {
  /** "v1" (core) or "group/version". */
  apiVersion: string;
  kind: string;
  plural: string;
}

export type ScopedWatcherOptions<T extends k8s.KubernetesObject> = Omit<WatcherOptions<T>, "path" | "list"> & {
  resource: Resource;
  /** Empty: the whole cluster. */
  namespaces: readonly string[];
};

const collectionPath = (r: Resource, namespace?: string) =>
  `${r.apiVersion.includes("/") ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`}${namespace ? `/namespaces/${namespace}` : ""}/${r.plural}`;

export class ScopedWatcher<T extends k8s.KubernetesObject> {
  private readonly watchers = new Map<string, Watcher<T>>();

  constructor(o: ScopedWatcherOptions<T>) {
    const objects = k8s.KubernetesObjectApi.makeApiClient(o.kc);
    const { resource, namespaces, ...rest } = o;
    for (const namespace of namespaces.length > 0 ? namespaces : [""]) {
      this.watchers.set(
        namespace,
        new Watcher<T>({
          ...rest,
          name: namespace ? `${o.name} in ${namespace}` : o.name,
          path: collectionPath(resource, namespace || undefined),
          list: () =>
            objects.list<T>(
              resource.apiVersion,
              resource.kind,
              namespace || undefined,
              undefined,
              undefined,
              undefined,
              undefined,
              o.labelSelector,
            ),
        }),
      );
    }
  }

  private watcherFor(namespace?: string): Watcher<T> | undefined {
    return this.watchers.get("") ?? (namespace !== undefined ? this.watchers.get(namespace) : undefined);
  }

  get synced(): boolean {
    return [...this.watchers.values()].every((w) => w.synced);
  }

  async start(): Promise<void> {
    for (const w of this.watchers.values()) await w.start();
  }

  async stop(): Promise<void> {
    for (const w of this.watchers.values()) await w.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.watcherFor(namespace)?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    if (namespace !== undefined) return this.watcherFor(namespace)?.list(namespace) ?? [];
    return [...this.watchers.values()].flatMap((w) => [...w.list()]);
  }

  resync(): void {
    for (const w of this.watchers.values()) w.resync();
  }
}
