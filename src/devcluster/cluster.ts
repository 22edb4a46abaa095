// The local Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, plus a real Prometheus 3 (all built from
// Go modules by scripts/build-cluster-bins.sh). Used by
// `make cluster-up`/`cluster-down` (through `fledge cluster`) and by the test harness.
// All state needed to find and stop the processes is in <dir>/state.json, so a second
// `up` reuses a running cluster and `down` works from any process.
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { DataPlaneConfig } from "../dataplane/config.js";
import { readyFileOf } from "../dataplane/config.js";
import { POD_CIDR, sealedNetworkSupport } from "../dataplane/sealed-network.js";
import { dataPlaneObjects, GATEWAY, INGRESS_CLASS } from "../dataplane/traefik.js";
import { generateCertificates } from "./certs.js";
import { renderKubeconfig } from "./kubeconfig.js";
import { freePorts } from "./ports.js";
import { httpStatus, waitUntilReady } from "./probe.js";
import { isAlive, type ManagedProcess, type StartedProcess, startProcessGroup, stopProcessGroup } from "./process-group.js";
import { addScrapeTarget, prometheusArgs, writePrometheusConfig } from "./prometheus.js";
import { assertBinariesBuilt, clusterBinaries, pinnedVersions, repoRoot, traefikBinary } from "./versions.js";

// Resolved from the repository root so the compiled (dist/) and source (src/) code share it.
const stagesFile = path.join(repoRoot, "src", "devcluster", "kwok-stages.yaml");

/** Real Traefik in a sealed network namespace, or the pretend routing of `fledge sim` where no
 * namespace can be made (or the cluster was started without a data plane). */
export type DataPlane =
  | {
      kind: "traefik";
      version: string;
      /** Traefik's HTTP entry point, forwarded to the host's loopback: send requests here. */
      webUrl: string;
      metricsUrl: string;
      gateway: { namespace: string; name: string; listener: string };
      ingressClass: string;
      /** Holds the pid of a process inside the namespace (src/dataplane/config.ts). */
      readyFile: string;
    }
  | { kind: "pretend"; why: string };

export interface LocalCluster {
  dir: string;
  kubeconfig: string;
  apiServerUrl: string;
  prometheusUrl: string;
  /** Drop `<name>.json` file-SD target files here to have Prometheus scrape them. */
  prometheusTargetsDir: string;
  kubectl: string;
  kubernetesBinDir: string;
  versions: { kubernetes: string; etcd: string; kwok: string; prometheus: string; gatewayApi: string };
  dataPlane: DataPlane;
  processes: ManagedProcess[];
  startedAt: string;
  /** False while start-up is still under way (or was interrupted). */
  complete: boolean;
  /** True when `startCluster` found this cluster already running and reused it. */
  reused?: boolean;
}

export interface StartOptions {
  dir: string;
  nodes?: number;
  /** Run real Traefik in a sealed network namespace (default); false: pretend routing only. */
  dataPlane?: boolean;
  log?: (line: string) => void;
}

const stateFile = (dir: string) => path.join(dir, "state.json");

export async function readClusterState(dir: string): Promise<LocalCluster | undefined> {
  if (!existsSync(stateFile(dir))) return undefined;
  try {
    return JSON.parse(await readFile(stateFile(dir), "utf8")) as LocalCluster;
  } catch {
    return undefined;
  }
}

async function isHealthy(cluster: LocalCluster): Promise<boolean> {
  if (!cluster.complete || !cluster.processes.every((p) => isAlive(p.pid))) return false;
  const certs = path.join(cluster.dir, "pki");
  const apiserver = await httpStatus(`${cluster.apiServerUrl}/readyz`, {
    ca: path.join(certs, "serving-ca.crt"),
    cert: path.join(certs, "admin.crt"),
    key: path.join(certs, "admin.key"),
  });
  const prometheus = await httpStatus(`${cluster.prometheusUrl}/-/ready`);
  return apiserver === 200 && prometheus === 200;
}

function requireTool(tool: string, hint: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(`${tool} is not installed: ${hint}, then retry.`);
  }
}

function prometheusVersion(binary: string): string {
  try {
    const out = execFileSync(binary, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return /version (\S+)/.exec(out)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function startCluster(options: StartOptions): Promise<LocalCluster> {
  const log = options.log ?? (() => {});
  const dir = path.resolve(options.dir);
  const existing = await readClusterState(dir);
  if (existing) {
    // A cluster an older fledge started has no dataPlane entry: it routes by pretence.
    if (await isHealthy(existing))
      return { ...existing, dataPlane: existing.dataPlane ?? { kind: "pretend", why: "started by an older fledge" }, reused: true };
    log("a previous cluster in this folder is not healthy; stopping what is left of it");
    await stopCluster(dir);
  }

  const binaries = clusterBinaries();
  assertBinariesBuilt(binaries);
  requireTool("openssl", "install it (apt-get install openssl)");

  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, "logs"), { recursive: true });
  const started: StartedProcess[] = [];
  const start = (name: string, command: string, args: string[]) => {
    const proc = startProcessGroup(name, command, args, { logFile: path.join(dir, "logs", `${name}.log`) });
    started.push(proc);
    // Recorded at once, so that `cluster-down` can stop a start-up that was itself killed.
    writeFileSync(
      stateFile(dir),
      JSON.stringify({ dir, complete: false, processes: started.map(({ name, pid, logFile }) => ({ name, pid, logFile })) }),
    );
    return proc;
  };

  try {
    const [etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort, promPort] = (await freePorts(7)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    log("generating certificates");
    const pki = await generateCertificates(path.join(dir, "pki"));
    const admin = { ca: pki.servingCa, cert: pki.adminCert, key: pki.adminKey };

    log("starting etcd");
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = start("etcd", binaries.etcd, [
      `--data-dir=${path.join(dir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    await waitUntilReady(etcd, async () => (await httpStatus(`${etcdUrl}/health`)) === 200, 30_000);

    log("starting kube-apiserver");
    const apiServerUrl = `https://127.0.0.1:${apiPort}`;
    const apiserver = start("kube-apiserver", binaries.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      `--cert-dir=${path.join(dir, "pki")}`,
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--secure-port=${apiPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      // Room for the Services of thousands of Rollouts (two each); no Service IP is ever dialled.
      "--service-cluster-ip-range=10.96.0.0/16",
      "--allow-privileged=true",
      "--disable-admission-plugins=ServiceAccount",
      "--authorization-mode=RBAC",
      `--client-ca-file=${pki.clientCa}`,
      `--service-account-issuer=${apiServerUrl}/`,
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--v=0",
    ]);
    await waitUntilReady(apiserver, async () => (await httpStatus(`${apiServerUrl}/readyz`, admin)) === 200, 90_000);

    const kubeconfig = path.join(dir, "kubeconfig");
    await writeFile(
      kubeconfig,
      renderKubeconfig({ server: apiServerUrl, caFile: pki.servingCa, certFile: pki.adminCert, keyFile: pki.adminKey }),
      { mode: 0o600 },
    );

    log("starting kube-controller-manager, kube-scheduler and kwok");
    const kcm = start("kube-controller-manager", binaries.kubeControllerManager, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${kcmPort}`,
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.servingCa}`,
      "--use-service-account-credentials=false",
      // Its client's defaults (20 QPS, burst 30) made it the bottleneck of every bench that
      // creates thousands of objects (each a ReplicaSet, a pod and their status writes).
      "--kube-api-qps=100",
      "--kube-api-burst=200",
      "--v=0",
    ]);
    const scheduler = start("kube-scheduler", binaries.kubeScheduler, [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      `--secure-port=${schedPort}`,
      "--v=0",
    ]);
    const kwok = start("kwok", binaries.kwok, [
      `--kubeconfig=${kubeconfig}`,
      "--manage-all-nodes=true",
      `--config=${stagesFile}`,
      `--server-address=127.0.0.1:${kwokPort}`,
      // Pod IPs: local inside the data plane's sealed namespace (src/dataplane/sealed-network.ts), nowhere else.
      `--cidr=${POD_CIDR}`,
      "--node-ip=127.0.0.1",
    ]);
    await waitUntilReady(kcm, async () => (await httpStatus(`https://127.0.0.1:${kcmPort}/healthz`, "self-signed")) === 200, 60_000);
    await waitUntilReady(
      scheduler,
      async () => (await httpStatus(`https://127.0.0.1:${schedPort}/healthz`, "self-signed")) === 200,
      60_000,
    );
    await waitUntilReady(kwok, async () => (await httpStatus(`http://127.0.0.1:${kwokPort}/healthz`)) === 200, 60_000);

    log("creating fake nodes");
    await createFakeNodes(binaries.kubectl, kubeconfig, options.nodes ?? 1);
    await waitForNodesReady(binaries.kubectl, kubeconfig, options.nodes ?? 1, kwok);

    // The Gateway API is not part of Kubernetes: its CRDs come from its Go module. Server-side
    // apply: the HTTPRoute CRD is too large for kubectl's last-applied annotation.
    log("installing the Gateway API CRDs");
    kubectl(binaries.kubectl, kubeconfig, ["apply", "--server-side", "-f", binaries.gatewayApiCrds]);
    await waitForCrdsEstablished({ kubectl: binaries.kubectl, kubeconfig }, [
      "crd/httproutes.gateway.networking.k8s.io",
      "crd/gateways.gateway.networking.k8s.io",
    ]);

    log("starting Prometheus");
    const promDir = path.join(dir, "prometheus");
    const promFiles = await writePrometheusConfig(promDir);
    const prometheusUrl = `http://127.0.0.1:${promPort}`;
    const prometheus = start("prometheus", binaries.prometheus, prometheusArgs({ ...promFiles, port: promPort }));
    await waitUntilReady(prometheus, async () => (await httpStatus(`${prometheusUrl}/-/ready`)) === 200, 60_000);

    const versions = pinnedVersions();
    const dataPlane = await startDataPlane({
      wanted: options.dataPlane ?? true,
      dir,
      apiPort,
      pki,
      kubectl: (args, input) => kubectl(binaries.kubectl, kubeconfig, args, input),
      prometheusTargetsDir: promFiles.targetsDir,
      start,
      log,
    });
    const cluster: LocalCluster = {
      dir,
      kubeconfig,
      apiServerUrl,
      prometheusUrl,
      prometheusTargetsDir: promFiles.targetsDir,
      kubectl: binaries.kubectl,
      kubernetesBinDir: binaries.kubernetesBinDir,
      versions: {
        kubernetes: versions.kubernetes,
        etcd: versions.etcd,
        kwok: versions.kwok,
        prometheus: prometheusVersion(binaries.prometheus),
        gatewayApi: versions.gatewayApi,
      },
      dataPlane,
      processes: started.map(({ name, pid, logFile }) => ({ name, pid, logFile })),
      startedAt: new Date().toISOString(),
      complete: true,
    };
    await writeFile(stateFile(dir), `${JSON.stringify(cluster, null, 2)}\n`);
    return cluster;
  } catch (err) {
    // Never leave a half-started cluster behind.
    for (const proc of started.reverse()) await stopProcessGroup(proc.pid, 2000);
    await rm(stateFile(dir), { force: true });
    throw err;
  }
}

async function startDataPlane(o: {
  wanted: boolean;
  dir: string;
  apiPort: number;
  pki: { servingCa: string; adminCert: string; adminKey: string };
  kubectl: (args: string[], input?: string) => string;
  prometheusTargetsDir: string;
  start: (name: string, command: string, args: string[]) => StartedProcess;
  log: (line: string) => void;
}): Promise<DataPlane> {
  if (!o.wanted) return { kind: "pretend", why: "started without a data plane (--data-plane off)" };
  const support = sealedNetworkSupport();
  if (!support.ok) {
    o.log(`no real data plane: ${support.why}. Falling back to pretend routing (fledge sim reads the weights and plays the proxy).`);
    return { kind: "pretend", why: support.why };
  }
  const binary = traefikBinary();
  if (!existsSync(binary))
    throw new Error(`Traefik is not built (missing ${binary}). Run 'make cluster-bins' (about 15 min the first time) and retry.`);
  o.log("starting the data plane: Traefik and the pods, in a sealed network namespace");
  const dpDir = path.join(o.dir, "data-plane");
  await mkdir(dpDir, { recursive: true });
  const [web, metrics] = (await freePorts(2)) as [number, number];
  // The namespace has its own ports; the pods are served on 0.0.0.0 at their endpoint ports, so these stay off the usual ones (8080, 8443, 9090…).
  const inside = { api: 16443, web: 80, metrics: 19100 };
  const kubeconfigInside = path.join(dpDir, "kubeconfig");
  await writeFile(
    kubeconfigInside,
    renderKubeconfig({
      server: `https://127.0.0.1:${inside.api}`,
      caFile: o.pki.servingCa,
      certFile: o.pki.adminCert,
      keyFile: o.pki.adminKey,
    }),
    { mode: 0o600 },
  );
  const config: DataPlaneConfig = {
    dir: dpDir,
    logsDir: path.join(o.dir, "logs"),
    apiServerPort: o.apiPort,
    kubeconfigInside,
    traefikBinary: binary,
    podCidr: POD_CIDR,
    host: { web, metrics },
    inside,
  };
  const configFile = path.join(dpDir, "config.json");
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const readyFile = readyFileOf(config);
  const proc = o.start("data-plane", process.execPath, [
    path.join(repoRoot, "bin", "fledge.js"),
    "data-plane",
    "host",
    "--config",
    configFile,
  ]);
  const metricsUrl = `http://127.0.0.1:${metrics}`;
  await waitUntilReady(proc, async () => existsSync(readyFile) && (await httpStatus(`${metricsUrl}/ping`)) === 200, 90_000);
  o.kubectl(
    ["apply", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: dataPlaneObjects({ web: inside.web, metrics: inside.metrics }) }),
  );
  o.kubectl(["wait", "--for=condition=Programmed", "--timeout=60s", "-n", GATEWAY.namespace, `gateway/${GATEWAY.name}`]);
  await addScrapeTarget(o.prometheusTargetsDir, "traefik", `127.0.0.1:${metrics}`, { source: "traefik" });
  return {
    kind: "traefik",
    version: pinnedVersions().traefik,
    webUrl: `http://127.0.0.1:${web}`,
    metricsUrl,
    gateway: { ...GATEWAY },
    ingressClass: INGRESS_CLASS,
    readyFile,
  };
}

type KubectlTarget = Pick<LocalCluster, "kubectl" | "kubeconfig">;

/** Waits until these CRDs (kubectl's names, or "--all", "crd") are Established. Right after they
 * are created, `kubectl wait` can read one whose status.conditions is still null and fail at once
 * ("accessor error: <nil> is of the type <nil>") instead of waiting: that is waited out too. */
export async function waitForCrdsEstablished(cluster: KubectlTarget, crds: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    try {
      kubectl(cluster.kubectl, cluster.kubeconfig, ["wait", "--for=condition=Established", `--timeout=${left}s`, ...crds]);
      return;
    } catch (err) {
      if (!String(err).includes("accessor error") || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Fledge's CRDs as a user installs them (`kubectl apply -k crds`), Established. */
export async function installFledgeCrds(cluster: KubectlTarget): Promise<void> {
  kubectl(cluster.kubectl, cluster.kubeconfig, ["apply", "-k", path.join(repoRoot, "crds")]);
  await waitForCrdsEstablished(cluster, ["crd/rollouts.fledge.dev", "crd/analysispolicies.fledge.dev"]);
}

function kubectl(binary: string, kubeconfig: string, args: string[], input?: string): string {
  return execFileSync(binary, [`--kubeconfig=${kubeconfig}`, ...args], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

async function createFakeNodes(binary: string, kubeconfig: string, count: number): Promise<void> {
  const nodes = Array.from({ length: count }, (_, i) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: `fledge-node-${i + 1}`,
      // kwok manages every node (--manage-all-nodes); the label is for people reading `get nodes`.
      labels: { "kubernetes.io/hostname": `fledge-node-${i + 1}`, "kubernetes.io/os": "linux", type: "kwok" },
      annotations: { "node.alpha.kubernetes.io/ttl": "0" },
    },
    // No taints: a real kubelet-less node would normally carry NoSchedule; ours must accept pods.
    spec: {},
  }));
  kubectl(binary, kubeconfig, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: nodes }));
}

async function waitForNodesReady(binary: string, kubeconfig: string, count: number, kwok: StartedProcess): Promise<void> {
  await waitUntilReady(
    kwok,
    async () => {
      const out = kubectl(binary, kubeconfig, [
        "get",
        "nodes",
        "-o",
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      return out.split("\n").filter((s) => s === "True").length >= count;
    },
    60_000,
  );
}

/** Stops every process recorded for the cluster in `dir` and removes its data. */
export async function stopCluster(dir: string): Promise<{ stopped: string[] }> {
  const state = await readClusterState(path.resolve(dir));
  const stopped: string[] = [];
  if (state) {
    for (const proc of [...state.processes].reverse()) {
      if (isAlive(proc.pid)) stopped.push(proc.name);
      await stopProcessGroup(proc.pid);
    }
  }
  await rm(path.resolve(dir), { recursive: true, force: true });
  return { stopped };
}
