// What the two halves of the data plane share (written by src/devcluster/cluster.ts as JSON):
// the host half (host.ts) and the half inside the sealed namespace (inside.ts) meet only at
// the Unix sockets named here.
import path from "node:path";

export interface DataPlaneConfig {
  /** <cluster dir>/data-plane: sockets, Traefik's config, the ready file. */
  dir: string;
  logsDir: string;
  /** The API server's port on the host's loopback. */
  apiServerPort: number;
  /** A kubeconfig whose server is the forwarded API port inside the namespace. */
  kubeconfigInside: string;
  traefikBinary: string;
  podCidr: string;
  /** Loopback ports on the host: Traefik's entry point and its /metrics, forwarded inside. */
  host: { web: number; metrics: number };
  /** Loopback ports inside the namespace (its own port space). */
  inside: { api: number; web: number; metrics: number };
}

/** Socket files; short names, since a socket path may not exceed 107 bytes. */
export const socketsOf = (config: Pick<DataPlaneConfig, "dir">) => ({
  api: path.join(config.dir, "s", "api"),
  web: path.join(config.dir, "s", "web"),
  metrics: path.join(config.dir, "s", "metrics"),
});

export const readyFileOf = (config: Pick<DataPlaneConfig, "dir">) => path.join(config.dir, "ready.json");

/** Written by the inside half once Traefik answers and the pods are served. */
export interface DataPlaneReady {
  /** A process inside the namespace: `nsenter -t <pid> -n` enters it. */
  insidePid: number;
  traefikPid: number;
  at: string;
}
