// `make demo`: the release story on a machine with nothing set up. Starts the local cluster
// (with its real data plane: Traefik in a sealed network namespace), Prometheus, the clients
// and the operator, then: v1 deployed → v2 (healthy) tried first on a header preview route,
// then promoted step by step through an approval step answered in Slack → v3 (5 % errors)
// rolled back by the sequential judge. Routing is the Gateway API (an HTTPRoute on Traefik) or,
// with ROUTER=nginx, an NGINX-annotated Ingress on Traefik; the panel shows the share of
// requests the proxy really sent to the canary next to the weight set. Where no network
// namespace can be made, the story runs on pretend routing (fledge sim) and says so. There is
// no Slack workspace here: the operator talks to a loopback Slack Web API, and the approval is
// a simulated click, signed the way Slack signs it and posted to the operator's interactivity
// endpoint; the story says so. Live panel on a TTY, plain lines otherwise; a summary table;
// exits 0 only if the story ended as it should, and stops everything it started unless KEEP=1.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { templateRevision } from "../api/revision.js";
import { GROUP, type Rollout, VERSION } from "../api/types.js";
import { isDegraded, isHealthy } from "../controller/rollout-outcome.js";
import { TRAEFIK_QUERIES } from "../dataplane/traefik.js";
import { installFledgeCrds, type LocalCluster, startCluster, stopCluster } from "../devcluster/cluster.js";
import { freePort } from "../devcluster/ports.js";
import { repoRoot } from "../devcluster/versions.js";
import { createLogger } from "../observability/logger.js";
import { type RunningLoad, sendRequest, startLoad } from "../sim/load.js";
import { type RunningSim, startSim } from "../sim/sim.js";
import { blockActionsPayload, postInteraction, signInteraction } from "../slack-loopback/click-simulator.js";
import { type FakeSlack, startFakeSlack } from "../slack-loopback/fake-slack.js";
import { NGINX_COUNTER_QUERIES } from "../traffic/nginx/queries.js";
import { type ArmTraffic, plainLine, renderPanel, renderShares, renderSummary, type StoryResult } from "./render.js";

const NS = "demo";
const NAME = "checkout";
const CHANNEL = "C0RELEASES";
const APPROVER = { id: "U0DEMO", username: "release-manager" };

export type DemoRouter = "gatewayAPI" | "nginx";

export interface DemoOptions {
  keep: boolean;
  tty: boolean;
  dir?: string;
  router?: DemoRouter;
}

const PREVIEW_HEADER = { header: "x-fledge-preview", value: "1" };

const template = (version: string, errorRate: number) => ({
  metadata: { labels: { app: NAME } },
  spec: {
    containers: [{ name: "app", image: `shop/checkout:${version}`, env: [{ name: "FLEDGE_SIM_ERROR_RATE", value: String(errorRate) }] }],
  },
});

/** The demo's policy: the sequential judge at 1 s. α 0.002 (0.001 per analysed step) keeps a
 * false rollback of the healthy release, which would spoil the story, to about 1 run in 500;
 * a 30 s maxStepDuration lets a healthy canary through each step without waiting for the test
 * to accept it, while a 10× canary at 10 % of 100 req/s is almost always caught within it. */
const policy = (queries: { requests: string; errors: string }) => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: "AnalysisPolicy",
  metadata: { name: "error-rate", namespace: NS },
  spec: {
    interval: "1s",
    errorRate: {
      ...queries,
      judge: { sequential: { alpha: 0.002, beta: 0.05, maxStepDuration: "30s" } },
      minRequests: 100,
      noTraffic: { timeout: "2m", action: "Abort" },
    },
  },
});

/** Where the demo's traffic comes from, and what it says about the canary's share. */
interface Traffic {
  stable(): ArmTraffic;
  canary(): ArmTraffic;
  /** The share of the last 5 s of answers that came from the canary (real proxy only). */
  measuredShare(): number | undefined;
  stop(): Promise<void>;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const dir = options.dir ?? path.join(repoRoot, ".fledge", "demo");
  const out = (text: string) => process.stdout.write(text);
  out(`Fledge demo: starting a local Kubernetes control plane, Prometheus, Traefik, the clients and the operator (state in ${dir})\n`);
  const cluster = await startCluster({ dir: path.join(dir, "cluster"), log: (l) => out(`  ${l}\n`) });
  let operator: ChildProcess | undefined;
  let traffic: Traffic | undefined;
  let slack: FakeSlack | undefined;
  let ok = false;
  // An error thrown outside the story's own flow (a timer, a socket) would end the process
  // without the cleanup below; stop what was started all the same.
  const onCrash = (err: unknown) => {
    out(`Fledge demo: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    operator?.kill("SIGKILL");
    void stopCluster(path.join(dir, "cluster")).finally(() => process.exit(1));
  };
  if (!options.keep) process.once("uncaughtException", onCrash);
  try {
    await installFledgeCrds(cluster);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await kc
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { metadata: { name: NS } } })
      .catch(() => undefined);

    // Slack: a loopback Web API and a Secret with a signing secret made up for this run.
    slack = await startFakeSlack();
    const signingSecret = randomBytes(16).toString("hex");
    await kc
      .makeApiClient(k8s.CoreV1Api)
      .createNamespacedSecret({
        namespace: NS,
        body: { metadata: { name: "fledge-slack" }, stringData: { "bot-token": "xoxb-demo", "signing-secret": signingSecret } },
      })
      .catch(() => undefined);
    const operatorPort = await freePort();

    mkdirSync(path.join(dir, "logs"), { recursive: true });
    // The log goes to a file descriptor, not a pipe: with KEEP=1 the operator outlives the demo.
    const operatorLog = openSync(path.join(dir, "logs", "operator.log"), "a");
    operator = spawn(
      process.execPath,
      [
        path.join(repoRoot, "bin", "fledge.js"),
        "operator",
        `--kubeconfig=${cluster.kubeconfig}`,
        `--prometheus-url=${cluster.prometheusUrl}`,
        `--port=${operatorPort}`,
        "--bind=127.0.0.1",
        `--slack-secret=${NS}/fledge-slack`,
        `--slack-api-url=${slack.url}`,
        "--cluster-name=laptop",
      ],
      { stdio: ["ignore", operatorLog, operatorLog], detached: options.keep },
    );
    closeSync(operatorLog);
    if (options.keep) operator.unref();
    const plane = cluster.dataPlane;
    const router: DemoRouter = plane.kind === "traefik" ? (options.router ?? "gatewayAPI") : "nginx";
    if (plane.kind === "traefik") {
      out(
        `  routing: ${router === "gatewayAPI" ? "Gateway API (an HTTPRoute on Traefik's Gateway)" : "NGINX canary annotations on an Ingress, served by Traefik's Ingress-NGINX provider"}; real requests through Traefik ${plane.version}\n`,
      );
    } else {
      out(`  routing: PRETEND (${plane.why}): fledge sim reads the Ingress weight and plays the proxy; no request is real\n`);
    }
    await objects.create(policy(plane.kind === "traefik" ? TRAEFIK_QUERIES[router] : NGINX_COUNTER_QUERIES) as k8s.KubernetesObject);
    const host = "checkout.example.com";
    if (router === "gatewayAPI" && plane.kind === "traefik") {
      await objects.create({
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: NAME, namespace: NS },
        spec: {
          parentRefs: [{ name: plane.gateway.name, namespace: plane.gateway.namespace, sectionName: plane.gateway.listener }],
          hostnames: [host],
          rules: [
            {
              name: "main",
              backendRefs: [
                { name: NAME, port: 80, weight: 100 },
                { name: `${NAME}-canary`, port: 80, weight: 0 },
              ],
            },
          ],
        },
      } as k8s.KubernetesObject);
    } else {
      await objects.create({
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { name: NAME, namespace: NS },
        spec: {
          ...(plane.kind === "traefik" ? { ingressClassName: plane.ingressClass } : {}),
          rules: [
            { host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: NAME, port: { number: 80 } } } }] } },
          ],
        },
      } as k8s.KubernetesObject);
    }
    traffic = plane.kind === "traefik" ? await realTraffic(kc, plane, router) : await pretendTraffic(kc, cluster);
    await objects.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "Rollout",
      metadata: { name: NAME, namespace: NS },
      spec: {
        replicas: 4,
        template: template("1.0.0", 0.005),
        service: { port: 80, targetPort: 8080 },
        traffic: router === "gatewayAPI" ? { gatewayAPI: { httpRoute: NAME, rule: "main" } } : { nginx: { ingress: NAME } },
        analysis: { policy: "error-rate" },
        strategy: {
          canary: {
            steps: [
              { setHeaderRoute: { name: "try-it", match: [PREVIEW_HEADER] } },
              { pause: { duration: "8s" } },
              { setWeight: 10 },
              { pause: { duration: "15s" } },
              { approval: { slack: { channel: CHANNEL }, approvers: [APPROVER.id], timeout: "5m", onTimeout: "Abort" } },
              { setWeight: 50 },
              { pause: { duration: "15s" } },
            ],
          },
        },
        progressDeadlineSeconds: 300,
        notifications: { slack: { channel: CHANNEL } },
      },
    } as k8s.KubernetesObject);

    const get = async () =>
      (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: "rollouts",
        name: NAME,
      })) as Rollout;
    const log: string[] = [];
    const note = (line: string) => {
      log.push(line);
      if (!options.tty) out(`${line}\n`);
    };

    // The approval step: when the operator has posted the approval message, a simulated person
    // clicks Approve on it a few seconds later.
    const clicked = new Set<string>();
    const pendingClicks: NodeJS.Timeout[] = [];
    const answerApproval = (r: Rollout) => {
      const gate = r.status?.approval;
      const message = gate?.slack && slack?.messages.get(gate.slack.ts);
      if (!gate || gate.decision || !message || clicked.has(gate.token)) return;
      clicked.add(gate.token);
      note(`Slack (loopback): the operator posted an approval request for revision ${gate.revision} to ${CHANNEL}.`);
      const click = setTimeout(() => {
        // The gate may be gone by now: the analysis goes on during an approval, and a bad canary
        // is rolled back without waiting for anyone (its message then has no buttons).
        let payload: ReturnType<typeof blockActionsPayload>;
        try {
          payload = blockActionsPayload({ user: APPROVER, verdict: "approve", message });
        } catch {
          note("The simulated approver finds the approval already closed: the canary was decided without them.");
          return;
        }
        note(
          `Simulated Slack click: @${APPROVER.username} (${APPROVER.id}) presses Approve; the request is signed like Slack's and posted to http://127.0.0.1:${operatorPort}/slack/interactions.`,
        );
        void postInteraction(`http://127.0.0.1:${operatorPort}/slack/interactions`, signInteraction(payload, signingSecret))
          .then((status) => note(`  the operator acknowledged it (HTTP ${status}) and records the decision in the Rollout's status.`))
          .catch((err) => note(`  the click could not be posted: ${(err as Error).message}`));
      }, 3000);
      pendingClicks.push(click);
    };

    // The header preview step: a person tries v2 before it gets any traffic, by sending the header.
    const previewed = new Set<string>();
    const none: ArmTraffic = { requests: 0, errors: 0 };
    let shareWeight = 0;
    let shareSince = Date.now();
    const sharesSeen = new Map<string, number>();
    const tryPreview = (r: Rollout) => {
      const preview = r.status?.headerRoute;
      const revision = r.status?.canaryRevision;
      if (!preview || !revision || previewed.has(revision) || (r.status?.currentStep ?? 0) < 1) return;
      previewed.add(revision);
      if (plane.kind !== "traefik") {
        note(`Preview route ${preview.name} is set, but pretend routing (fledge sim) does not route by header: nothing to try here.`);
        return;
      }
      void (async () => {
        // Traefik applies the new rule a moment after it is written: ask until it answers.
        const agent = new (await import("node:http")).Agent({ keepAlive: true });
        const headers = { [PREVIEW_HEADER.header]: PREVIEW_HEADER.value };
        let canary = 0;
        for (let attempt = 0; attempt < 40 && canary < 20; attempt++) {
          canary = 0;
          for (let i = 0; i < 20; i++)
            if ((await sendRequest(agent, plane.webUrl, { host, path: "/" }, headers)).track === "canary") canary += 1;
          if (canary < 20) await sleep(250);
        }
        agent.destroy();
        note(
          `Preview: curl -H 'Host: ${host}' -H '${PREVIEW_HEADER.header}: ${PREVIEW_HEADER.value}' ${plane.webUrl}/ → ${canary} of 20 answered by the canary (revision ${revision}) before it gets any weight; every other request still goes to stable.`,
        );
      })();
    };

    /** Follows the rollout until `done`, drawing the panel; returns when done or after the timeout. */
    const follow = async (title: string, done: (r: Rollout) => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      let previous: Rollout | undefined;
      let firstTraffic: number | undefined;
      const canaryBefore = traffic?.canary().errors ?? 0;
      while (Date.now() < deadline) {
        const r = await get().catch(() => undefined);
        if (r && (r.status?.canaryWeight ?? 0) > 0 && firstTraffic === undefined) firstTraffic = Date.now();
        if (r) answerApproval(r);
        if (r) tryPreview(r);
        const weight = r?.status?.canaryWeight ?? 0;
        const share = traffic?.measuredShare();
        if (weight !== shareWeight) {
          shareWeight = weight;
          shareSince = Date.now();
        } else if (weight > 0 && share !== undefined && Date.now() - shareSince > 6000) {
          // Settled: Traefik applied the weight and the last 5 s of answers are all at it.
          sharesSeen.set(`${title.split(":")[0]} at ${weight} %`, share);
        }
        if (options.tty) {
          out(
            `\x1b[2J\x1b[H${renderPanel({ title, rollout: r, stable: traffic?.stable() ?? none, canary: traffic?.canary() ?? none, measuredShare: share, log })}`,
          );
        } else {
          const line = plainLine(previous, r);
          if (line) note(`[${title}] ${line}`);
        }
        previous = r;
        if (r && done(r))
          return {
            rollout: r,
            seconds: firstTraffic ? (Date.now() - firstTraffic) / 1000 : 0,
            canaryErrors: (traffic?.canary().errors ?? 0) - canaryBefore,
          };
        await sleep(options.tty ? 250 : 500);
      }
      throw new Error(
        `${title}: the rollout did not finish within ${timeoutMs / 1000} s (operator log: ${path.join(dir, "logs", "operator.log")})`,
      );
    };
    const patchTemplate = (version: string, errorRate: number) =>
      custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version: VERSION,
          namespace: NS,
          plural: "rollouts",
          name: NAME,
          body: { spec: { template: template(version, errorRate) } },
        },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );

    // Finished = the operator has seen this version (currentRevision) and promoted or rolled it
    // back, judged as `fledge wait` judges it: a moment of "route not acknowledged yet" after a
    // weight write is neither outcome.
    const finished = (version: string, errorRate: number) => {
      const revision = templateRevision(template(version, errorRate));
      return (r: Rollout) => r.status?.currentRevision === revision && (isDegraded(r) || isHealthy(r));
    };
    note("v1 (0.5 % errors) is applied: the first version goes straight to stable.");
    await follow("v1: first deploy", finished("1.0.0", 0.005), 120_000);
    note(
      "v1 is stable and serves all traffic. Releasing v2 (healthy, 0.5 % errors like v1): first a preview route, then 10 %, an approval in Slack, 50 %…",
    );
    await patchTemplate("2.0.0", 0.005);
    const v2 = await follow("v2: healthy release", finished("2.0.0", 0.005), 300_000);
    const v2Outcome = isHealthy(v2.rollout) ? "promoted" : "rolled back";
    const decided = v2.rollout.status?.approval;
    if (decided?.decision) note(`Approval step: ${decided.decision} by ${decided.decidedBy ?? "?"}.`);
    const thread = [...(slack?.messages.values() ?? [])].filter(
      (m) => m.channel === CHANNEL && !m.blocks?.some((b) => (b as { type?: string }).type === "header"),
    );
    note(`Slack (loopback): ${thread.length} lifecycle messages so far in ${CHANNEL}, one thread per revision.`);
    note(`v2 ${v2Outcome}. Releasing v3 (5 % errors: ten times v2's rate)…`);
    await patchTemplate("3.0.0", 0.05);
    const v3 = await follow("v3: bad release", finished("3.0.0", 0.05), 300_000);
    const v3Outcome = isDegraded(v3.rollout) ? "rolled back" : "promoted";
    // A click still waiting to happen has nothing left to decide.
    for (const click of pendingClicks) clearTimeout(click);
    note(`v3 ${v3Outcome}: ${v3.rollout.status?.message ?? ""}`);

    const results: StoryResult[] = [
      { chapter: "v2 (healthy)", outcome: v2Outcome, seconds: v2.seconds, canaryErrors: v2.canaryErrors, expected: "promoted" },
      { chapter: "v3 (5 % errors)", outcome: v3Outcome, seconds: v3.seconds, canaryErrors: v3.canaryErrors, expected: "rolled back" },
    ];
    if (options.tty) out("\x1b[2J\x1b[H");
    out(renderSummary(results));
    if (plane.kind === "traefik") out(renderShares(sharesSeen));
    else out("\nRouting was pretended (fledge sim): no request went through a real proxy.\n");
    ok = results.every((r) => r.outcome === r.expected);
    out(ok ? "\nThe story ended as it should: v2 promoted, v3 rolled back.\n" : "\nThe story did NOT end as it should (see the table).\n");
    if (options.keep) printExplore(cluster, dir);
    return ok ? 0 : 1;
  } finally {
    process.off("uncaughtException", onCrash);
    if (!options.keep) {
      await traffic?.stop();
      await slack?.close();
      if (operator && operator.exitCode === null) {
        operator.kill("SIGTERM");
        await Promise.race([new Promise((r) => operator?.once("exit", r)), sleep(5000)]);
        if (operator.exitCode === null) operator.kill("SIGKILL");
      }
      await stopCluster(path.join(dir, "cluster"));
      out("Everything the demo started has been stopped.\n");
    } else if (!ok) {
      out("KEEP=1: left running for you to explore.\n");
    }
  }
}

function printExplore(cluster: LocalCluster, dir: string): void {
  process.stdout.write(
    [
      "",
      "KEEP=1: the cluster, Prometheus and the operator keep running. The sim and the loopback Slack stop with this",
      "process: approval steps from now on are answered with `fledge approve` (the operator logs that Slack is unreachable).",
      `  export KUBECONFIG=${cluster.kubeconfig}`,
      `  export PATH=${cluster.kubernetesBinDir}:$PATH`,
      `  kubectl get rollouts -n ${NS}`,
      `  node bin/fledge.js status ${NAME} -n ${NS}`,
      `  node bin/fledge.js sim --namespace ${NS}     # traffic again`,
      `  Prometheus: ${cluster.prometheusUrl}`,
      `  make cluster-down CLUSTER_DIR=${path.join(dir, "cluster")}   # when done`,
      "",
    ].join("\n"),
  );
}

/** Real clients through Traefik; each answer names the track of the pod that sent it. */
async function realTraffic(
  kc: k8s.KubeConfig,
  plane: Extract<LocalCluster["dataPlane"], { kind: "traefik" }>,
  router: DemoRouter,
): Promise<Traffic> {
  const load: RunningLoad = await startLoad({
    kc,
    log: createLogger("warn", "load"),
    webUrl: plane.webUrl,
    gateway: plane.gateway,
    ingressClass: plane.ingressClass,
    rps: 100,
    namespace: NS,
    maxDurationMs: 30 * 60_000,
  });
  const key = `${NS}/${router === "gatewayAPI" ? "HTTPRoute" : "Ingress"}/${NAME}`;
  return {
    stable: () => load.totals()[key]?.stable ?? { requests: 0, errors: 0 },
    canary: () => load.totals()[key]?.canary ?? { requests: 0, errors: 0 },
    measuredShare: () => load.recentCanaryShare(key, 5000),
    stop: () => load.stop(),
  };
}

/** Pretend routing (no network namespace here): fledge sim splits synthetic requests by the Ingress weight. */
async function pretendTraffic(kc: k8s.KubeConfig, cluster: LocalCluster): Promise<Traffic> {
  const sim: RunningSim = await startSim({
    kc,
    log: createLogger("warn", "sim"),
    rps: 100,
    port: 0,
    namespace: NS,
    prometheusTargetsDir: cluster.prometheusTargetsDir,
  });
  const arm = (service: string): ArmTraffic => sim.totals()[`${NS}/${service}`] ?? { requests: 0, errors: 0 };
  return { stable: () => arm(NAME), canary: () => arm(`${NAME}-canary`), measuredShare: () => undefined, stop: () => sim.stop() };
}
