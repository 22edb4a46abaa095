// Helpers shared by integration tests: a client for the local cluster, a namespace per file,
// and polling with a clear message when the awaited state never comes.
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { inject } from "vitest";

export function localCluster() {
  return inject("cluster");
}

export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(localCluster().kubeconfig);
  return kc;
}

export async function createNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e4)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(kc: k8s.KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** Polls `probe` until it returns a value that is not undefined; fails with `what` after the timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`);
}
