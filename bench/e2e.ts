// make bench-e2e: the whole loop on the local cluster's real data plane — real kube-apiserver,
// real Prometheus scraping Traefik every 1 s, real Traefik (Gateway API and Ingress-NGINX
// providers) in its sealed network namespace, real HTTP clients at 100 req/s per route, the
// operator as a process. For each router it measures:
//   1. a 10× canary (5 % vs 0.5 %): time from the first request a canary pod answered to the
//      weight back at 0 in the routing object, over RUNS runs (5 lanes at a time);
//   2. the share of requests Traefik really sent to the canary at weights 1, 5, 10 and 50 %
//      (SAMPLES requests each, counted from the pods' answers);
//   3. the time from a weight written to Traefik applying it (weight 0 → 100 and back, FLIPS
//      times, on a route no Rollout manages, probed every 5 ms).
// Tables go to docs/benchmarks.md. Needs a machine where a network namespace can be made.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { TRAEFIK_QUERIES } from "../src/dataplane/traefik.js";
import { type DataPlane, installFledgeCrds, startCluster, stopCluster } from "../src/devcluster/cluster.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { createLogger } from "../src/observability/logger.js";
import { sendRequest, startLoad } from "../src/sim/load.js";
import { quantile } from "../src/simulate/stats.js";
import { writeSection } from "./markdown-section.js";

const RUNS = Number(process.env.RUNS ?? 10);
const BATCH = 5;
const SAMPLES = Number(process.env.SAMPLES ?? 2000);
const FLIPS = Number(process.env.FLIPS ?? 10);
const WEIGHTS = [1, 5, 10, 50];
type Router = "gatewayAPI" | "nginx";
const ROUTERS: Router[] = ["gatewayAPI", "nginx"];
type Traefik = Extract<DataPlane, { kind: "traefik" }>;

const policy = (router: Router) => ({
  interval: "1s",
  errorRate: {
    ...TRAEFIK_QUERIES[router],
    judge: { sequential: { alpha: 0.01, beta: 0.05, maxStepDuration: "2m" } },
    minRequests: 100,
    noTraffic: { timeout: "5m", action: "Abort" },
  },
});

const template = (app: string, tag: string, errorRate: number) => ({
  metadata: { labels: { app } },
  spec: {
    containers: [
      { name: "app", image: `example.invalid/${app}:${tag}`, env: [{ name: "FLEDGE_SIM_ERROR_RATE", value: String(errorRate) }] },
    ],
  },
});

const median = (xs: number[]) =>
  xs.length
    ? quantile(
        [...xs].sort((a, b) => a - b),
        0.5,
      )
    : Number.NaN;
const range = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(2)} – ${Math.max(...xs).toFixed(2)}` : "-");

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "fledge-bench-e2e-"));
  const started = Date.now();
  let operator: ChildProcess | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      operator?.kill("SIGKILL");
      void stopCluster(dir).finally(() => process.exit(130));
    });
  }
  const cluster = await startCluster({ dir, log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
  const stops: Array<() => Promise<void>> = [];
  try {
    const plane = cluster.dataPlane;
    if (plane.kind !== "traefik") throw new Error(`bench-e2e measures the real data plane, and this machine has none: ${plane.why}`);
    await installFledgeCrds(cluster);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const networking = kc.makeApiClient(k8s.NetworkingV1Api);
    const create = (o: object) => objects.create(o as k8s.KubernetesObject);
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

    operator = spawn(
      process.execPath,
      [
        path.join(repoRoot, "bin", "fledge.js"),
        "operator",
        `--kubeconfig=${cluster.kubeconfig}`,
        `--prometheus-url=${cluster.prometheusUrl}`,
        "--port=0",
        "--bind=127.0.0.1",
        "--log-level=warn",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    const load = await startLoad({
      kc,
      log: createLogger("warn", "load"),
      webUrl: plane.webUrl,
      gateway: plane.gateway,
      ingressClass: plane.ingressClass,
      rps: 100,
      seed: 7,
      maxDurationMs: 60 * 60_000,
    });
    stops.push(() => load.stop());

    /** A namespace with a policy, a route (HTTPRoute or Ingress) and a Rollout named app. */
    const lane = async (ns: string, router: Router, steps: object[], analysed = true) => {
      await core.createNamespace({ body: { metadata: { name: ns } } });
      await create({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "AnalysisPolicy",
        metadata: { name: "p", namespace: ns },
        spec: policy(router),
      });
      await createRoute(create, plane, ns, "app", router);
      await create({
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "Rollout",
        metadata: { name: "app", namespace: ns },
        spec: {
          replicas: 4,
          template: template("app", "1", 0.005),
          service: { port: 80, targetPort: 8080 },
          traffic: router === "gatewayAPI" ? { gatewayAPI: { httpRoute: "app", rule: "main" } } : { nginx: { ingress: "app" } },
          ...(analysed ? { analysis: { policy: "p" } } : {}),
          strategy: { canary: { steps } },
          progressDeadlineSeconds: 1800,
        },
      });
      return { ns, router, key: `${ns}/${router === "gatewayAPI" ? "HTTPRoute" : "Ingress"}/app`, host: `app.${ns}.fledge.test` };
    };
    const get = async (ns: string) =>
      (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: "rollouts",
        name: "app",
      })) as Rollout;
    const weightOf = async (ns: string, router: Router) => {
      if (router === "nginx") {
        const ing = await networking.readNamespacedIngress({ name: "app-canary", namespace: ns }).catch(() => undefined);
        return Number(ing?.metadata?.annotations?.["nginx.ingress.kubernetes.io/canary-weight"] ?? Number.NaN);
      }
      const route = (await custom.getNamespacedCustomObject({
        group: "gateway.networking.k8s.io",
        version: "v1",
        namespace: ns,
        plural: "httproutes",
        name: "app",
      })) as {
        spec: { rules: Array<{ backendRefs: Array<{ weight?: number }> }> };
      };
      return route.spec.rules[0]?.backendRefs[1]?.weight ?? Number.NaN;
    };
    const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number, everyMs = 250) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await done().catch(() => false)) return;
        await sleep(everyMs);
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    const setTemplate = (ns: string, tag: string, errorRate: number) =>
      custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: "rollouts",
          name: "app",
          body: { spec: { template: template("app", tag, errorRate) } },
        },
        merge,
      );

    // ---------------------------------------------------------------- 1. 10× canary → weight 0
    const rollbacks = new Map<Router, number[]>(ROUTERS.map((r) => [r, []]));
    const outcomes = new Map<Router, string[]>(ROUTERS.map((r) => [r, []]));
    for (const router of ROUTERS) {
      for (let from = 0; from < RUNS; from += BATCH) {
        const lanes = await Promise.all(
          Array.from({ length: Math.min(BATCH, RUNS - from) }, (_, i) =>
            lane(`bad-${router.toLowerCase()}-${from + i}`, router, [{ setWeight: 10 }, { pause: { duration: "2m" } }]),
          ),
        );
        await until(
          "v1 Healthy in every lane",
          async () => (await Promise.all(lanes.map((l) => get(l.ns)))).every((r) => r.status?.phase === "Healthy"),
          180_000,
        );
        process.stderr.write(`${router}: 10× canary in lanes ${from}–${from + lanes.length - 1}\n`);
        await Promise.all(lanes.map((l) => setTemplate(l.ns, "2", 0.05)));
        await Promise.all(
          lanes.map(async (l) => {
            let first: number | undefined;
            let back: number | undefined;
            await until(
              `lane ${l.ns} rolled back or promoted`,
              async () => {
                if (first === undefined && (load.totals()[l.key]?.canary.requests ?? 0) > 0) first = Date.now();
                if (first !== undefined && back === undefined && (await weightOf(l.ns, router)) === 0) back = Date.now();
                const r = await get(l.ns);
                return (
                  back !== undefined ||
                  (r.status?.phase === "Healthy" && r.status.stableRevision === r.status.currentRevision && first !== undefined)
                );
              },
              300_000,
              50,
            );
            const r = await get(l.ns);
            outcomes
              .get(router)
              ?.push(
                r.status?.phase === "Degraded"
                  ? (r.status.conditions?.find((c) => c.type === "Ready")?.reason ?? "rolled back")
                  : "promoted",
              );
            if (first !== undefined && back !== undefined) rollbacks.get(router)?.push((back - first) / 1000);
          }),
        );
        for (const l of lanes) await core.deleteNamespace({ name: l.ns }).catch(() => undefined);
      }
    }

    // ---------------------------------------------------------------- 2. measured share at each weight
    const shares = new Map<string, { canary: number; total: number; proxy: number }>();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const count = async (host: string, n: number) => {
      const tally = { canary: 0, total: 0, proxy: 0 };
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < n) {
            next += 1;
            const a = await sendRequest(agent, plane.webUrl, { host, path: "/" });
            if (a.track === "") tally.proxy += 1;
            else {
              tally.total += 1;
              if (a.track === "canary") tally.canary += 1;
            }
          }
        }),
      );
      return tally;
    };
    for (const router of ROUTERS) {
      const steps = WEIGHTS.flatMap((w) => [{ setWeight: w }, { pause: {} }]);
      // No analysis here: a promote moves on at once, and the shares need no judging.
      const l = await lane(`share-${router.toLowerCase()}`, router, steps, false);
      await until("v1 Healthy", async () => (await get(l.ns)).status?.phase === "Healthy", 180_000);
      await setTemplate(l.ns, "2", 0.005);
      for (const [i, w] of WEIGHTS.entries()) {
        await until(
          `paused at ${w} %`,
          async () => {
            const r = await get(l.ns);
            return r.status?.phase === "Paused" && r.status.currentStep === 2 * i + 1;
          },
          180_000,
        );
        // Traefik applies a weight a moment after it is written; the next section measures how long.
        await sleep(3000);
        const tally = await count(l.host, SAMPLES);
        shares.set(`${router} ${w}`, tally);
        process.stderr.write(`${router} at ${w} %: ${tally.canary}/${tally.total} from the canary\n`);
        await custom.patchNamespacedCustomObject(
          {
            group: GROUP,
            version: VERSION,
            namespace: l.ns,
            plural: "rollouts",
            name: "app",
            body: { metadata: { annotations: { "fledge.dev/action": `promote/${w}` } } },
          },
          merge,
        );
      }
    }

    // ---------------------------------------------------------------- 3. weight written → applied
    const applied = new Map<Router, number[]>(ROUTERS.map((r) => [r, []]));
    for (const router of ROUTERS) {
      const ns = `flip-${router.toLowerCase()}`;
      await core.createNamespace({ body: { metadata: { name: ns } } });
      for (const track of ["stable", "canary"]) {
        const name = track === "stable" ? "app" : "app-canary";
        const labels = { app: "app", "fledge.dev/track": track };
        await create({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name, namespace: ns },
          spec: {
            replicas: 1,
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: "app", image: "example.invalid/app:1" }] } },
          },
        });
        await create({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name, namespace: ns },
          spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
        });
      }
      await createRoute(create, plane, ns, "app", router, true);
      const host = `app.${ns}.fledge.test`;
      const write = async (weight: number) => {
        if (router === "nginx")
          await networking.patchNamespacedIngress(
            {
              name: "app-canary",
              namespace: ns,
              body: { metadata: { annotations: { "nginx.ingress.kubernetes.io/canary-weight": String(weight) } } },
            },
            merge,
          );
        else
          await custom.patchNamespacedCustomObject(
            {
              group: "gateway.networking.k8s.io",
              version: "v1",
              namespace: ns,
              plural: "httproutes",
              name: "app",
              body: {
                spec: {
                  rules: [
                    {
                      name: "main",
                      backendRefs: [
                        { name: "app", port: 80, weight: 100 - weight },
                        { name: "app-canary", port: 80, weight },
                      ],
                    },
                  ],
                },
              },
            },
            merge,
          );
      };
      const answers = async (track: string) => (await sendRequest(agent, plane.webUrl, { host, path: "/" })).track === track;
      await until("both pods answering", async () => answers("stable"), 60_000);
      for (let flip = 0; flip < FLIPS * 2; flip++) {
        const to = flip % 2 === 0 ? 100 : 0;
        const want = to === 100 ? "canary" : "stable";
        await sleep(2500 + Math.random() * 1000); // apart from Traefik's last reload, at a random phase of it
        const at = Date.now();
        await write(to);
        await until(`Traefik applying weight ${to}`, () => answers(want), 30_000, 5);
        applied.get(router)?.push((Date.now() - at) / 1000);
      }
      process.stderr.write(`${router}: weight applied after ${JSON.stringify(applied.get(router))} s\n`);
    }
    agent.destroy();

    // ---------------------------------------------------------------- tables
    const lines: string[] = [];
    lines.push(
      "| router | 10× canary: outcomes | first canary answer → weight 0, median (s) | min – max (s) | weight written → Traefik applies it, median (s) | min – max (s) |",
    );
    lines.push("|---|---|---|---|---|---|");
    for (const router of ROUTERS) {
      const outs = new Map<string, number>();
      for (const o of outcomes.get(router) ?? []) outs.set(o, (outs.get(o) ?? 0) + 1);
      const r = rollbacks.get(router) ?? [];
      const a = applied.get(router) ?? [];
      lines.push(
        `| ${router === "gatewayAPI" ? "Gateway API (HTTPRoute)" : "NGINX annotations (Ingress)"} | ${[...outs].map(([o, n]) => `${o} ×${n}`).join(", ")} | ${median(r).toFixed(1)} | ${range(r)} | ${median(a).toFixed(2)} | ${range(a)} |`,
      );
    }
    const shareLines = ["| weight set | Gateway API: measured canary share | NGINX annotations: measured canary share |", "|---|---|---|"];
    for (const w of WEIGHTS) {
      const cell = (router: Router) => {
        const t = shares.get(`${router} ${w}`);
        if (!t) return "-";
        const pct = (t.canary / t.total) * 100;
        return `${pct.toFixed(2)} % (${t.canary}/${t.total}; ${(pct - w >= 0 ? "+" : "") + (pct - w).toFixed(2)} points)${t.proxy ? `, ${t.proxy} answered by Traefik itself` : ""}`;
      };
      shareLines.push(`| ${w} % | ${cell("gatewayAPI")} | ${cell("nginx")} |`);
    }
    const table = `${lines.join("\n")}\n\n${shareLines.join("\n")}`;
    process.stdout.write(`${table}\n`);
    const body = `## End to end on the real data plane (local cluster)\n\nMeasured with \`make bench-e2e\` (${((Date.now() - started) / 1000).toFixed(0)} s): local control plane, Traefik ${plane.version} (Gateway API and Ingress-NGINX providers) in a sealed network namespace, Prometheus ${cluster.versions.prometheus} scraping Traefik every 1 s, real HTTP clients at 100 req/s per route (stable 0.5 % errors). The 10× canary (5 % errors) runs at weight 10 % then a 2-minute pause under the sequential policy (mixture SPRT, α 0.01, β 0.05, 1 s interval, Traefik's own counters), ${RUNS} runs per router, ${BATCH} at a time; the time runs from the first request a canary pod answered to weight 0 in the routing object. Weight written → applied: the route flipped between 0 and 100 % ${FLIPS} times each way, probed every 5 ms until the other track answered (Traefik's providersThrottleDuration is 2 s by default). Shares: ${SAMPLES} requests per weight after 3 s at it, counted from the pods' answers (the Gateway API conformance test allows ± 5 points).\n\n${table}\n`;
    process.stdout.write(`written to ${writeSection("bench-e2e", body)}\n`);
  } finally {
    operator?.kill("SIGTERM");
    for (const stop of stops) await stop().catch(() => undefined);
    await stopCluster(dir);
  }
}

/** The user's routing object for `name`: an HTTPRoute on the local Gateway, or an NGINX-class Ingress
 * (and, for a route no Rollout manages, its canary Ingress too). */
async function createRoute(
  create: (o: object) => Promise<unknown>,
  plane: Traefik,
  ns: string,
  name: string,
  router: Router,
  withCanaryIngress = false,
) {
  const host = `${name}.${ns}.fledge.test`;
  if (router === "gatewayAPI") {
    await create({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name, namespace: ns },
      spec: {
        parentRefs: [{ name: plane.gateway.name, namespace: plane.gateway.namespace, sectionName: plane.gateway.listener }],
        hostnames: [host],
        rules: [
          {
            name: "main",
            backendRefs: [
              { name, port: 80, weight: 100 },
              { name: `${name}-canary`, port: 80, weight: 0 },
            ],
          },
        ],
      },
    });
    return;
  }
  const ingress = (ingressName: string, service: string, annotations?: Record<string, string>) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: ingressName, namespace: ns, ...(annotations ? { annotations } : {}) },
    spec: {
      ingressClassName: plane.ingressClass,
      rules: [
        { host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service, port: { number: 80 } } } }] } },
      ],
    },
  });
  await create(ingress(name, name));
  if (withCanaryIngress)
    await create(
      ingress(`${name}-canary`, `${name}-canary`, {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "0",
      }),
    );
}

main().catch((err) => {
  process.stderr.write(`bench-e2e failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
