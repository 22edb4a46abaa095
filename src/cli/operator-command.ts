// `fledge operator`: runs the operator in a cluster (in-cluster config) or outside it (kubeconfig).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { startOperator } from "../controller/operator.js";
import { TokenAuthority } from "../dashboard/identity.js";
import { startDashboard } from "../dashboard/server.js";
import { createLogger } from "../observability/logger.js";

export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

export function registerOperatorCommand(program: Command): void {
  program
    .command("operator")
    .description("run the Fledge operator (in a cluster, or outside it with a kubeconfig)")
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
    .option("--prometheus-url <url>", "Prometheus for AnalysisPolicies that name none", process.env.FLEDGE_PROMETHEUS_URL)
    .option("--port <port>", "port for /metrics, /healthz, /readyz", "8479")
    .option("--bind <host>", "address to listen on", "0.0.0.0")
    .option("--log-level <level>", "error, warn, info or debug", process.env.FLEDGE_LOG_LEVEL ?? "info")
    .option("--resync <seconds>", "reconcile every Rollout again this often, after any Rollout with something to do", "300")
    .option("--no-leader-elect", "reconcile without holding the leader Lease (only ever run one replica then)")
    .option("--lease-namespace <ns>", "namespace of the leader Lease (default: the pod's namespace, else default)")
    .option("--lease-name <name>", "name of the leader Lease", "fledge-operator")
    .option(
      "--shards <n>",
      "split the Rollouts among the replicas in this many shards, each a Lease (<lease-name>-shard-<k>); 1: one leader reconciles all",
      "1",
    )
    .option("--kube-qps <n>", "requests a second to the API server, on average (client-go's QPS)", "20")
    .option("--kube-burst <n>", "requests to the API server at once (client-go's burst)", "40")
    .option("--prometheus-qps <n>", "queries a second to Prometheus across all analyses", "50")
    .option("--workers <n>", "Rollouts reconciled at once", "4")
    .option("--watch-namespaces <list>", "act only on Rollouts in these namespaces (comma-separated; default all)")
    .option(
      "--slack-secret <[namespace/]name>",
      "Secret with bot-token, signing-secret (and app-token for Socket Mode); turns Slack on",
      process.env.FLEDGE_SLACK_SECRET,
    )
    .option("--slack-api-url <url>", "Slack Web API base URL", process.env.FLEDGE_SLACK_API_URL ?? "https://slack.com")
    .option("--slack-socket-mode", "receive Slack clicks over an outbound WebSocket (needs app-token)")
    .option("--cloudevents-sink <url>", "send lifecycle CloudEvents (binary mode) to this URL", process.env.FLEDGE_CLOUDEVENTS_SINK)
    .option("--dashboard-port <port>", "also serve the web dashboard on this port; users sign in with their own Kubernetes token")
    .option("--cluster-name <name>", "named in every Slack message and CloudEvent", process.env.FLEDGE_CLUSTER_NAME ?? "kubernetes")
    .action(
      async (opts: {
        kubeconfig?: string;
        prometheusUrl?: string;
        port: string;
        bind: string;
        logLevel: string;
        resync: string;
        leaderElect: boolean;
        leaseNamespace?: string;
        leaseName: string;
        shards: string;
        kubeQps: string;
        kubeBurst: string;
        prometheusQps: string;
        workers: string;
        watchNamespaces?: string;
        slackSecret?: string;
        slackApiUrl: string;
        slackSocketMode?: boolean;
        cloudeventsSink?: string;
        clusterName: string;
        dashboardPort?: string;
      }) => {
        const log = createLogger(opts.logLevel);
        if (!Number.isInteger(Number(opts.shards)) || Number(opts.shards) < 1 || Number(opts.shards) > 256) {
          log.error("--shards must be a whole number from 1 to 256", { shards: opts.shards });
          process.exit(2);
        }
        const identity = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
        const kc = loadKubeConfig(opts.kubeconfig);
        const watchNamespaces = opts.watchNamespaces
          ?.split(",")
          .map((n) => n.trim())
          .filter(Boolean);
        const operator = await startOperator({
          kc,
          log,
          prometheusUrl: opts.prometheusUrl,
          port: Number(opts.port),
          host: opts.bind,
          resyncMs: Number(opts.resync) * 1000,
          kubeQps: positive(opts.kubeQps, "--kube-qps", log),
          kubeBurst: positive(opts.kubeBurst, "--kube-burst", log),
          prometheusQps: positive(opts.prometheusQps, "--prometheus-qps", log),
          concurrency: Math.round(positive(opts.workers, "--workers", log)),
          watchNamespaces,
          sharding:
            Number(opts.shards) > 1
              ? {
                  namespace: opts.leaseNamespace ?? podNamespace() ?? "default",
                  name: opts.leaseName,
                  identity,
                  shards: Number(opts.shards),
                }
              : undefined,
          leaderElection:
            opts.leaderElect && !(Number(opts.shards) > 1)
              ? {
                  namespace: opts.leaseNamespace ?? podNamespace() ?? "default",
                  name: opts.leaseName,
                  identity,
                }
              : undefined,
          slack: opts.slackSecret
            ? {
                ...secretRef(opts.slackSecret),
                apiUrl: opts.slackApiUrl,
                socketMode: opts.slackSocketMode === true,
              }
            : undefined,
          cloudEventsSink: opts.cloudeventsSink,
          clusterName: opts.clusterName,
          onLostLeadership: () => {
            log.error("lost the leader lease; exiting so a fresh process can rejoin as a standby");
            process.exit(1);
          },
        });
        // The dashboard in the cluster: users sign in with their own token (src/dashboard/identity.ts).
        const dashboard =
          opts.dashboardPort !== undefined
            ? await startDashboard({
                authority: new TokenAuthority(kc),
                kc,
                namespaces: watchNamespaces ?? [],
                port: Number(opts.dashboardPort),
                host: opts.bind,
                log: log.child({ component: "dashboard" }),
              })
            : undefined;
        if (dashboard) log.info("dashboard serving", { port: dashboard.port, auth: "token" });
        const stop = async (signal: string) => {
          log.info("stopping", { signal });
          await dashboard?.close();
          await operator.stop();
          process.exit(0);
        };
        process.once("SIGTERM", () => void stop("SIGTERM"));
        process.once("SIGINT", () => void stop("SIGINT"));
      },
    );
}

function positive(value: string, flag: string, log: ReturnType<typeof createLogger>): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    log.error(`${flag} must be a number above 0`, { value });
    process.exit(2);
  }
  return n;
}

/** "ns/name" or "name" (the pod's namespace, else default). */
function secretRef(ref: string): { secretNamespace: string; secretName: string } {
  const [first, second] = ref.split("/");
  return second
    ? { secretNamespace: first ?? "", secretName: second }
    : { secretNamespace: podNamespace() ?? "default", secretName: first ?? "" };
}

/** The namespace the operator's pod runs in, when it runs in a cluster. */
function podNamespace(): string | undefined {
  try {
    return readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
