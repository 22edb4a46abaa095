// client-node 2.0 builds a new undici Agent for every API request (KubeConfig.createDispatcher
// from applySecurityAuthentication), so every request opens a new TLS connection: the API server
// spends its CPU on handshakes and the operator's memory churns. bench/scale.ts measured it: with
// a few hundred Rollouts settling, kube-apiserver near a full core and the operator at ~500 MB RSS
// with an 80 MB heap. One dispatcher per cluster and user keeps the connections alive and reused.
import type * as k8s from "@kubernetes/client-node";

type DispatcherMaker = (cluster: { name?: string } | null, agentOptions: unknown) => unknown;

/** Makes `kc` hand every request of one cluster and user the same dispatcher. Returns `kc`. */
export function reuseConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  const target = kc as unknown as { createDispatcher?: DispatcherMaker; getCurrentUser(): { name?: string } | null };
  const original = target.createDispatcher?.bind(kc);
  if (!original) return kc; // a client-node without it: nothing to do
  const dispatchers = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = JSON.stringify([cluster?.name ?? "", target.getCurrentUser()?.name ?? ""]);
    if (!dispatchers.has(key)) dispatchers.set(key, original(cluster, agentOptions));
    return dispatchers.get(key);
  };
  return kc;
}
