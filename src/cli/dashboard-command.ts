// `fledge dashboard`: the web dashboard on 127.0.0.1, acting with the user's kubeconfig (as
// `kubectl proxy` does); `--auth token` serves it to many users, each signing in with their own
// Kubernetes token (the operator's --dashboard-port does the same in the cluster).
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { GROUP } from "../api/types.js";
import { type Authority, KubeconfigAuthority, TokenAuthority } from "../dashboard/identity.js";
import { startDashboard } from "../dashboard/server.js";
import { createLogger } from "../observability/logger.js";
import { loadKubeConfig } from "./operator-command.js";

interface DashboardOptions {
  kubeconfig?: string;
  port: string;
  bind: string;
  namespace?: string;
  auth: string;
}

/** The namespaces to watch: the ones asked for, else all when the user may list Rollouts
 * cluster-wide, else the kubeconfig context's (as kubectl falls back). */
async function namespacesFor(kc: k8s.KubeConfig, asked: string | undefined): Promise<string[]> {
  if (asked)
    return asked
      .split(",")
      .map((n) => n.trim())
      .filter(Boolean);
  const review = await kc
    .makeApiClient(k8s.AuthorizationV1Api)
    .createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { group: GROUP, resource: "rollouts", verb: "watch" } } } });
  if (review.status?.allowed) return [];
  return [kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default"];
}

export function registerDashboardCommand(program: Command): void {
  program
    .command("dashboard")
    .description("the web dashboard: every Rollout, the evidence behind each verdict, and promote/abort/approve with your own rights")
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)")
    .option("--port <port>", "port to listen on (0: any free port)", "8480")
    .option("--bind <host>", "address to listen on (kubeconfig mode: loopback only)", "127.0.0.1")
    .option("-n, --namespace <list>", "only these namespaces (comma-separated; default: all you may watch)")
    .option(
      "--auth <mode>",
      "kubeconfig: act as the kubeconfig's user; token: each user signs in with their own bearer token",
      "kubeconfig",
    )
    .action(async (opts: DashboardOptions) => {
      const log = createLogger(process.env.FLEDGE_LOG_LEVEL ?? "info", "dashboard");
      const kc = loadKubeConfig(opts.kubeconfig);
      if (opts.auth !== "kubeconfig" && opts.auth !== "token") throw new Error(`--auth must be kubeconfig or token, not ${opts.auth}`);
      if (opts.auth === "kubeconfig" && !["127.0.0.1", "::1", "localhost"].includes(opts.bind))
        throw new Error(
          "--auth kubeconfig acts with your own credentials for whoever connects: it listens on loopback only (use --auth token to serve others)",
        );
      const authority: Authority = opts.auth === "token" ? new TokenAuthority(kc) : new KubeconfigAuthority(kc);
      const dashboard = await startDashboard({
        authority,
        kc,
        namespaces: await namespacesFor(kc, opts.namespace),
        port: Number(opts.port),
        host: opts.bind,
        log,
      });
      process.stdout.write(
        `Fledge dashboard: ${dashboard.url}  (${opts.auth === "token" ? "users sign in with their own token" : `acting as your kubeconfig's user`}; Ctrl-C stops it)\n`,
      );
      const stop = async () => {
        await dashboard.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });
}
