// Slack, wired together for the operator: credentials from the Secret (re-read every minute),
// one Web API client per token, the click handler, and the two ways clicks arrive — the HTTP
// interactivity route on the operator's server, and Socket Mode when asked for.
import type * as k8s from "@kubernetes/client-node";
import type { Kube } from "../kube/client.js";
import type { Route } from "../observability/http-server.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { OperatorScope } from "./click.js";
import { GateClickHandler } from "./click-handler.js";
import { interactivityRoute } from "./interactivity-endpoint.js";
import { SlackClient } from "./slack-client.js";
import { SlackSecret } from "./slack-secret.js";
import { SocketModeConnection } from "./socket-mode.js";

export interface SlackOptions {
  secretNamespace: string;
  secretName: string;
  /** Default https://slack.com; tests use a loopback fake. */
  apiUrl?: string;
  /** Receive clicks over an outbound WebSocket (app-token) as well as the HTTP endpoint. */
  socketMode?: boolean;
}

export interface SlackIntegration {
  /** The bot client; undefined while the Secret is missing or has no bot-token. */
  botClient: () => SlackClient | undefined;
  route: Route;
  /** Starts Socket Mode (if asked for), once the HTTP server is up. */
  start(): void;
  stop(): Promise<void>;
}

export async function startSlack(
  options: SlackOptions,
  deps: { kc: k8s.KubeConfig; kube: Kube; log: Logger; metrics: Metrics; scope: OperatorScope },
): Promise<SlackIntegration> {
  const { log, metrics } = deps;
  const secret = new SlackSecret(deps.kc, options.secretNamespace, options.secretName, log);
  await secret.start();
  const clients = new Map<string, SlackClient>();
  const clientFor = (token: string | undefined) => {
    if (!token) return undefined;
    let client = clients.get(token);
    if (!client) {
      client = new SlackClient({ token, baseUrl: options.apiUrl });
      clients.set(token, client);
    }
    return client;
  };
  const botClient = () => clientFor(secret.current()?.botToken);
  const clicks = new GateClickHandler({ kube: deps.kube, slack: botClient, log, metrics, scope: deps.scope });
  const socketMode = options.socketMode
    ? new SocketModeConnection({
        appToken: () => secret.current()?.appToken,
        ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
        onInteraction: (payload) => void clicks.handle(payload, "socket-mode"),
        log,
      })
    : undefined;
  return {
    botClient,
    route: interactivityRoute({
      signingSecret: () => secret.current()?.signingSecret,
      onInteraction: (payload) => void clicks.handle(payload, "http"),
      log,
      metrics,
    }),
    start: () => socketMode?.start(),
    async stop() {
      await socketMode?.stop();
      secret.stop();
    },
  };
}
