// make bench-peers, second part: what the same N idle applications cost each controller, on one
// local cluster at once (issue 16). For each size in IDLE_SIZES (default 1000,5000), N
// 1-replica applications per controller, each routed through its own NGINX-class Ingress:
//   fledge   a Fledge Rollout with traffic.nginx (Fledge makes its Deployment, Services, canary Ingress);
//   argo     an Argo Rollouts Rollout with nginx trafficRouting (the user's Ingress and two Services);
//   flagger  a Deployment and a Flagger Canary with the NGINX provider (by default up to 1,000:
//            IDLE_CONTENDERS=argo,flagger@1000,fledge; each Canary makes a second Deployment).
// For each size the controllers grow one at a time, in IDLE_CONTENDERS' order, each until all of
// its applications have settled (Healthy / Initialized) while the others idle with theirs; then,
// with all of them in place, a quiet IDLE_WINDOW_S (default 120 s):
// each controller's RSS and CPU (from /proc) and its API requests a minute, counted by the API
// server itself: each controller runs as a ServiceAccount of its own, with a FlowSchema of its
// own, and apiserver_flowcontrol_dispatched_requests_total says what each sent. A controller that
// does not settle within IDLE_MAX_MINUTES (default 25) of its last create is measured as it is,
// the table says so, and no larger size is tried.
import { type ChildProcess, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { writeSection } from "./markdown-section.js";
import { installCrds, startPeerBench, versions } from "./peer-controllers.js";

const SIZES = (process.env.IDLE_SIZES ?? "1000,5000").split(",").filter(Boolean).map(Number);
/** Controllers, each with an optional largest size (`flagger@1000`: Flagger's Canaries stop at 1,000). */
const CONTENDER_SPECS = (process.env.IDLE_CONTENDERS ?? "argo,flagger@1000,fledge").split(",").filter(Boolean);
const CONTENDERS = CONTENDER_SPECS.map((c) => c.split("@")[0]) as Array<"fledge" | "argo" | "flagger">;
const largestOf = new Map(CONTENDER_SPECS.map((c) => [c.split("@")[0], Number(c.split("@")[1] ?? Number.POSITIVE_INFINITY)]));
/** The applications a controller has at size n. */
const sizeFor = (c: string, n: number) => Math.min(n, largestOf.get(c) ?? n);
const WINDOW_S = Number(process.env.IDLE_WINDOW_S ?? 120);
const MAX_MS = Number(process.env.IDLE_MAX_MINUTES ?? 25) * 60_000;

const template = (name: string) => ({
  metadata: { labels: { app: name } },
  spec: { containers: [{ name: "app", image: `example.invalid/${name}:1`, ports: [{ containerPort: 8080, name: "http" }] }] },
});
const ingress = (name: string, service: string) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: { name },
  spec: {
    ingressClassName: "nginx",
    rules: [
      {
        host: `${name}.idle.test`,
        http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service, port: { number: 80 } } } }] },
      },
    ],
  },
});
const service = (name: string, app: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name },
  spec: { selector: { app }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
});

/** What one application is under each controller, and when it has settled. */
const APPS = {
  fledge: {
    namespace: "idle-fledge",
    objects: (name: string) => [
      ingress(name, name),
      {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "Rollout",
        metadata: { name },
        spec: {
          replicas: 1,
          template: template(name),
          service: { port: 80, targetPort: 8080 },
          traffic: { nginx: { ingress: name } },
          strategy: { canary: { steps: [{ setWeight: 20 }, { pause: { duration: "2m" } }] } },
        },
      },
    ],
    settled: { group: GROUP, version: VERSION, plural: "rollouts", phase: (o: unknown) => (o as Rollout).status?.phase === "Healthy" },
  },
  argo: {
    namespace: "idle-argo",
    objects: (name: string) => [
      ingress(name, name),
      service(name, name),
      service(`${name}-canary`, name),
      {
        apiVersion: "argoproj.io/v1alpha1",
        kind: "Rollout",
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: template(name),
          strategy: {
            canary: {
              canaryService: `${name}-canary`,
              stableService: name,
              trafficRouting: { nginx: { stableIngress: name } },
              steps: [{ setWeight: 20 }, { pause: { duration: "2m" } }],
            },
          },
        },
      },
    ],
    settled: {
      group: "argoproj.io",
      version: "v1alpha1",
      plural: "rollouts",
      phase: (o: unknown) => (o as { status?: { phase?: string } }).status?.phase === "Healthy",
    },
  },
  flagger: {
    namespace: "idle-flagger",
    objects: (name: string) => [
      ingress(name, name),
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name, labels: { app: name } },
        spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: template(name) },
      },
      {
        apiVersion: "flagger.app/v1beta1",
        kind: "Canary",
        metadata: { name },
        spec: {
          provider: "nginx",
          targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
          ingressRef: { apiVersion: "networking.k8s.io/v1", kind: "Ingress", name },
          service: { port: 80, targetPort: 8080 },
          analysis: { interval: "1m", threshold: 5, maxWeight: 50, stepWeight: 10, metrics: [] },
        },
      },
    ],
    settled: {
      group: "flagger.app",
      version: "v1beta1",
      plural: "canaries",
      phase: (o: unknown) => (o as { status?: { phase?: string } }).status?.phase === "Initialized",
    },
  },
} as const;

/** CPU seconds (user + system) and RSS bytes of a process, from /proc. */
function processFigures(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssBytes: rssKb * 1024 };
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

async function main() {
  if (SIZES.length === 0 || CONTENDERS.length === 0) return;
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[idle] ${line}\n`);
  const nodes = Math.ceil(CONTENDERS.reduce((n, c) => n + sizeFor(c, Math.max(0, ...SIZES)), 0) / 450) + 1;
  const bench = await startPeerBench("peers-idle", { nodes, dataPlane: false }, log);
  const { cluster } = bench;
  const dir = path.dirname(cluster.kubeconfig);
  const rows: string[] = [];
  const notes: string[] = [];
  /** After each size, so that a run stopped during a larger one keeps the rows it has. */
  const writeTable = () => {
    const table = [
      "### Idle cost: the same N applications under each controller",
      "",
      `Measured ${new Date().toISOString().slice(0, 10)} on this machine (${process.env.BENCH_MACHINE ?? "2 cores, 24 GiB"}): \`IDLE_SIZES=${SIZES.join(",")} IDLE_CONTENDERS=${CONTENDER_SPECS.join(",")} IDLE_MAX_MINUTES=${MAX_MS / 60_000} make bench-peers-idle\`, run time ${((Date.now() - started) / 60_000).toFixed(0)} min. Argo Rollouts ${versions.ARGO_ROLLOUTS_VERSION}, Flagger ${versions.FLAGGER_VERSION}; one local cluster, all controllers at once, each with N 1-replica applications of its own behind an NGINX-class Ingress (bench/peers-idle.ts says what each is), each controller's API client at 100 QPS, burst 250 (Flagger's defaults; Fledge's are 20/40, Argo's 40/80), Fledge with 10 workers (Argo's Rollout controller has 10; Fledge's default is 4). At each size the controllers grew one at a time, in that order, each while the others idled with theirs: its time from its first create to all settled (Healthy; Flagger: Initialized), with the API requests it sent meanwhile per application it added. Then a quiet ${WINDOW_S} s: RSS at its end, CPU over it (share of one core), and API requests a minute as the API server counted them (apiserver_flowcontrol_dispatched_requests_total of the controller's own FlowSchema; a watch counts once, when it starts).`,
      "",
      "| N | controller | settled | its applications created and settled in | API requests per application, to settle | RSS | CPU (idle) | API requests / min (idle) |",
      "|---|---|---|---|---|---|---|---|",
      ...rows,
      ...(notes.length ? ["", ...notes] : []),
    ].join("\n");

    process.stdout.write(`${table}\n`);
    process.stderr.write(`written to ${writeSection("peers-idle", table)}\n`);
  };
  try {
    const kubectl = (args: string[], input?: string) =>
      execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], {
        stdio: "pipe",
        // The API server's /metrics is several MB, beyond execFileSync's 1 MB default.
        maxBuffer: 512 * 1024 * 1024,
        ...(input ? { input } : {}),
      }).toString();
    await installCrds(bench);

    // One ServiceAccount and one FlowSchema per controller: the API server counts each one's requests.
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    const kubeconfigOf = (contender: string) => {
      kubectl(["-n", "kube-system", "create", "serviceaccount", `bench-${contender}`]);
      kubectl([
        "create",
        "clusterrolebinding",
        `bench-${contender}`,
        "--clusterrole=cluster-admin",
        `--serviceaccount=kube-system:bench-${contender}`,
      ]);
      kubectl(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "flowcontrol.apiserver.k8s.io/v1",
          kind: "FlowSchema",
          metadata: { name: `bench-${contender}` },
          spec: {
            priorityLevelConfiguration: { name: "workload-high" },
            matchingPrecedence: 500,
            distinguisherMethod: { type: "ByUser" },
            rules: [
              {
                subjects: [{ kind: "ServiceAccount", serviceAccount: { name: `bench-${contender}`, namespace: "kube-system" } }],
                resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"] }],
                nonResourceRules: [{ verbs: ["*"], nonResourceURLs: ["*"] }],
              },
            ],
          },
        }),
      );
      const token = kubectl(["-n", "kube-system", "create", "token", `bench-${contender}`, "--duration=24h"]).trim();
      const file = path.join(dir, `kubeconfig-${contender}`);
      const cluster0 = admin.getCurrentCluster();
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [
            {
              name: "local",
              cluster: {
                server: cluster0?.server,
                ...(cluster0?.caFile ? { "certificate-authority": cluster0.caFile } : { "certificate-authority-data": cluster0?.caData }),
              },
            },
          ],
          users: [{ name: contender, user: { token } }],
          contexts: [{ name: contender, context: { cluster: "local", user: contender } }],
          "current-context": contender,
        }),
      );
      return file;
    };

    const controllers = new Map<string, ChildProcess>();
    for (const contender of CONTENDERS) {
      const kubeconfig = kubeconfigOf(contender);
      // The same client rate for all: how fast thousands settle is then the control plane's, not a default's.
      const child = await bench.startController(contender, kubeconfig, { sameQps: true });
      controllers.set(contender, child);
      kubectl(["create", "namespace", APPS[contender].namespace]);
    }

    const objects = k8s.KubernetesObjectApi.makeApiClient(admin);
    const custom = admin.makeApiClient(k8s.CustomObjectsApi);
    const settledCount = async (contender: keyof typeof APPS) => {
      const s = APPS[contender].settled;
      const list = (await custom.listNamespacedCustomObject({
        group: s.group,
        version: s.version,
        namespace: APPS[contender].namespace,
        plural: s.plural,
      })) as {
        items: unknown[];
      };
      return list.items.filter(s.phase).length;
    };
    const dispatched = () => {
      const text = kubectl(["get", "--raw", "/metrics"]);
      const counts = new Map<string, number>();
      for (const line of text.split("\n")) {
        if (!line.startsWith("apiserver_flowcontrol_dispatched_requests_total{")) continue;
        const schema = /flow_schema="([^"]+)"/.exec(line)?.[1] ?? "";
        counts.set(schema, (counts.get(schema) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
      }
      return counts;
    };

    const created = new Map<string, number>();
    for (const n of SIZES) {
      const settled = new Map<string, number>();
      /** How long each controller took to have all of its applications of this size settled (from the
       * first create of the size), and the API requests it sent meanwhile per application it added. */
      const doneAt = new Map<string, { seconds: number; requestsPerApp: number }>();
      const unsettled: string[] = [];
      // One controller at a time grows to n while the others sit idle with theirs: each one's
      // settling is then its own (with the control plane it shares), not a race for the API server.
      for (const c of CONTENDERS) {
        const from = created.get(c) ?? 0;
        const to = sizeFor(c, n);
        if (to <= from) continue;
        const stageStarted = Date.now();
        const requestsBefore = dispatched();
        log(`${c}: creating applications ${from} to ${to - 1}`);
        await pool(
          Array.from({ length: to - from }, (_, i) => `app${String(from + i).padStart(5, "0")}`),
          16,
          async (name) => {
            for (const o of APPS[c].objects(name))
              await objects.create({ ...o, metadata: { ...o.metadata, namespace: APPS[c].namespace } } as k8s.KubernetesObject);
          },
        );
        created.set(c, to);
        // The bound runs from the last create: at 5,000 the bench's own creating takes tens of minutes.
        const lastCreate = Date.now();
        for (;;) {
          settled.set(c, await settledCount(c));
          const seconds = (Date.now() - stageStarted) / 1000;
          log(`${c}: ${settled.get(c)}/${to} settled after ${seconds.toFixed(0)} s`);
          if ((settled.get(c) ?? 0) >= to) {
            const requests = (dispatched().get(`bench-${c}`) ?? 0) - (requestsBefore.get(`bench-${c}`) ?? 0);
            doneAt.set(c, { seconds, requestsPerApp: requests / (to - from) });
            break;
          }
          if (Date.now() - lastCreate > MAX_MS) {
            unsettled.push(`${c} ${(settled.get(c) ?? 0).toLocaleString("en")} of ${to.toLocaleString("en")}`);
            break;
          }
          // Each look lists every object of the namespace: at 5,000 that is itself load, so look less often.
          await sleep(Math.min(30_000, Math.max(10_000, to * 6)));
        }
      }
      for (const c of CONTENDERS) settled.set(c, await settledCount(c));
      if (unsettled.length)
        notes.push(
          `N = ${n.toLocaleString("en")}: not every application settled within ${MAX_MS / 60_000} minutes of the controller's last create (${unsettled.join(", ")} settled); the idle window was measured with the rest still settling, so that row is not idle.`,
        );
      await sleep(30_000);
      const before = { api: dispatched(), procs: new Map(CONTENDERS.map((c) => [c, processFigures(controllers.get(c)?.pid ?? 0)])) };
      await sleep(WINDOW_S * 1000);
      const after = { api: dispatched(), procs: new Map(CONTENDERS.map((c) => [c, processFigures(controllers.get(c)?.pid ?? 0)])) };
      // A controller that stopped growing at a smaller size has a row there only.
      for (const c of CONTENDERS.filter((c) => sizeFor(c, n) === n)) {
        const cpu = ((after.procs.get(c)?.cpuSeconds ?? 0) - (before.procs.get(c)?.cpuSeconds ?? 0)) / WINDOW_S;
        const api = (((after.api.get(`bench-${c}`) ?? 0) - (before.api.get(`bench-${c}`) ?? 0)) * 60) / WINDOW_S;
        const done = doneAt.get(c);
        rows.push(
          `| ${n.toLocaleString("en")} | ${c} | ${(settled.get(c) ?? 0).toLocaleString("en")} | ${done ? `${done.seconds.toFixed(0)} s` : `not within ${MAX_MS / 60_000} min`} | ${done ? done.requestsPerApp.toFixed(1) : "–"} | ${((after.procs.get(c)?.rssBytes ?? 0) / 1024 / 1024).toFixed(0)} MB | ${(cpu * 100).toFixed(1)} % | ${api.toFixed(1)} |`,
        );
        log(rows.at(-1) ?? "");
      }
      writeTable();
      if (unsettled.length) break;
    }
  } finally {
    await bench.stop();
  }
}
main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
