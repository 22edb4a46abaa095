// Slack credentials come from one Kubernetes Secret (keys bot-token, signing-secret, app-token),
// read at start and again every minute so a rotated token is picked up. Values are never
// logged: only which keys are present. A missing or incomplete Secret is said once, with the
// command that fixes it; gates then stay pending (the CLI still decides them).
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";

export interface SlackCredentials {
  /** xoxb-…: chat.postMessage, chat.update, usergroups.users.list. */
  botToken: string;
  /** Verifies clicks posted to the interactivity endpoint. */
  signingSecret?: string;
  /** xapp-…: Socket Mode (apps.connections.open). */
  appToken?: string;
}

export const SECRET_KEYS = { botToken: "bot-token", signingSecret: "signing-secret", appToken: "app-token" } as const;

export function credentialsFrom(data: Record<string, string> | undefined): SlackCredentials | { problem: string } {
  const read = (key: string) => {
    const v = data?.[key];
    return v ? Buffer.from(v, "base64").toString("utf8").trim() : undefined;
  };
  const botToken = read(SECRET_KEYS.botToken);
  if (!botToken) return { problem: `has no "${SECRET_KEYS.botToken}" key` };
  const signingSecret = read(SECRET_KEYS.signingSecret);
  const appToken = read(SECRET_KEYS.appToken);
  return { botToken, ...(signingSecret ? { signingSecret } : {}), ...(appToken ? { appToken } : {}) };
}

export class SlackSecret {
  private credentials: SlackCredentials | undefined;
  private lastProblem: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    readonly namespace: string,
    readonly name: string,
    private readonly log: Logger,
    private readonly reloadMs = 60_000,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  current(): SlackCredentials | undefined {
    return this.credentials;
  }

  async start(): Promise<void> {
    await this.load();
    this.timer = setInterval(() => void this.load(), this.reloadMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async load(): Promise<void> {
    const where = `Slack Secret ${this.namespace}/${this.name}`;
    let problem: string | undefined;
    try {
      const secret = await this.core.readNamespacedSecret({ name: this.name, namespace: this.namespace });
      const result = credentialsFrom(secret.data);
      if ("problem" in result) problem = `${where} ${result.problem}`;
      else {
        const before = this.credentials;
        this.credentials = result;
        if (!before || this.lastProblem)
          this.log.info(`${where} loaded`, {
            keys: Object.keys(secret.data ?? {})
              .sort()
              .join(","),
          });
        this.lastProblem = undefined;
        return;
      }
    } catch (err) {
      const code = (err as { code?: number }).code;
      problem =
        code === 404
          ? `${where} not found`
          : code === 403
            ? `${where} may not be read by the operator's ServiceAccount (RBAC)`
            : `${where} could not be read: ${(err as Error).message}`;
    }
    // Keep working with credentials already loaded when a reload fails; say what is wrong once.
    if (problem !== this.lastProblem)
      this.log.error(
        `${problem}: Slack messages and clicks are off until it is fixed; gates stay pending and 'fledge approve|reject' still decides them. Create it with: kubectl -n ${this.namespace} create secret generic ${this.name} --from-literal=${SECRET_KEYS.botToken}=xoxb-… --from-literal=${SECRET_KEYS.signingSecret}=…`,
      );
    this.lastProblem = problem;
  }
}
