// The pinned versions live in scripts/versions.env (shared with the shell build scripts);
// this module reads them and says where the built binaries are cached.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface PinnedVersions {
  kubernetes: string;
  etcd: string;
  kwok: string;
  helm: string;
  prometheus: string;
  gatewayApi: string;
  traefik: string;
  node: string;
}

export function parseVersionsEnv(text: string): PinnedVersions {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z_]+)=(\S+)\s*$/.exec(line);
    if (match?.[1] && match[2]) values.set(match[1], match[2]);
  }
  const need = (key: string): string => {
    const value = values.get(key);
    if (!value) throw new Error(`scripts/versions.env has no ${key}=… line`);
    return value;
  };
  return {
    kubernetes: need("KUBERNETES_VERSION"),
    etcd: need("ETCD_VERSION"),
    kwok: need("KWOK_VERSION"),
    helm: need("HELM_VERSION"),
    prometheus: need("PROMETHEUS_VERSION"),
    gatewayApi: need("GATEWAY_API_VERSION"),
    traefik: need("TRAEFIK_VERSION"),
    node: need("NODE_VERSION"),
  };
}

export function pinnedVersions(): PinnedVersions {
  return parseVersionsEnv(readFileSync(path.join(repoRoot, "scripts", "versions.env"), "utf8"));
}

export function cacheDir(): string {
  return process.env.FLEDGE_CACHE ?? path.join(homedir(), ".cache", "fledge");
}

export interface ClusterBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  etcd: string;
  kwok: string;
  prometheus: string;
  /** The Gateway API's standard-channel CRDs (a folder of YAML files). */
  gatewayApiCrds: string;
  /** Folder to put first on PATH so `kubectl` matches the server version. */
  kubernetesBinDir: string;
}

/** Helm is built only for the chart's tests (`make test`), not for the cluster or the demo. */
export function helmBinary(versions = pinnedVersions()): string {
  return path.join(cacheDir(), "bin", `helm-${versions.helm}`, "helm");
}

/** Traefik, the local data plane (src/dataplane/); a cluster started without it routes by pretence. */
export function traefikBinary(versions = pinnedVersions()): string {
  return path.join(cacheDir(), "bin", `traefik-${versions.traefik}`, "traefik");
}

/** Prometheus 3.MM.P is published as Go module version v0.3MM.P. */
export function prometheusRelease(moduleVersion: string): string {
  const match = /^v0\.3(\d\d)\.(\d+)$/.exec(moduleVersion);
  return match ? `3.${Number(match[1])}.${match[2]}` : moduleVersion;
}

export function clusterBinaries(versions = pinnedVersions()): ClusterBinaries {
  const bin = path.join(cacheDir(), "bin");
  const k8s = path.join(bin, `kubernetes-${versions.kubernetes}`);
  return {
    kubeApiserver: path.join(k8s, "kube-apiserver"),
    kubeControllerManager: path.join(k8s, "kube-controller-manager"),
    kubeScheduler: path.join(k8s, "kube-scheduler"),
    kubectl: path.join(k8s, "kubectl"),
    etcd: path.join(bin, `etcd-${versions.etcd}`, "etcd"),
    kwok: path.join(bin, `kwok-${versions.kwok}`, "kwok"),
    prometheus: path.join(bin, `prometheus-${versions.prometheus}`, "prometheus"),
    gatewayApiCrds: path.join(bin, `gateway-api-${versions.gatewayApi}`, "crds"),
    kubernetesBinDir: k8s,
  };
}

/** Throws a message that says how to build when any binary is missing. */
export function assertBinariesBuilt(binaries: ClusterBinaries): void {
  const missing = Object.entries(binaries)
    .filter(([key]) => key !== "kubernetesBinDir")
    .filter(([, file]) => !existsSync(file))
    .map(([, file]) => file);
  if (missing.length > 0) {
    throw new Error(
      `the local cluster's binaries are not built (missing: ${missing.join(", ")}). Run 'make cluster-bins' (the first build takes about 10-15 min on 2 cores) and retry.`,
    );
  }
}
