// Who is using the dashboard, and what they may do: every read and action is the user's own.
//
// - Local (`fledge dashboard`): the user's kubeconfig, as kubectl uses it. The name comes from a
//   SelfSubjectReview, permissions from SelfSubjectAccessReviews, and actions are sent with the
//   kubeconfig itself, so the API server authorises them as it would kubectl's.
// - Token (the operator's in-cluster dashboard): each request carries a bearer token, in the
//   Authorization header (an authenticating proxy in front passes the user's OIDC token) or in
//   the HttpOnly cookie the login form sets. A TokenReview names the user; a SubjectAccessReview
//   authorises each read and action for exactly the verb and resource the CLI would use; the
//   action is then sent with the user's token, never with the operator's own rights.
import { createHash } from "node:crypto";
import type http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { GROUP } from "../api/types.js";

export interface ResourceCheck {
  verb: "get" | "list" | "watch" | "patch";
  resource: "rollouts" | "events";
  namespace: string;
}

export interface Session {
  username: string;
  groups: string[];
  /** Stable for this user's credentials; the CSRF token is bound to it. */
  id: string;
  /** Whether the user may do this (a SubjectAccessReview: the API server's own answer). */
  may(check: ResourceCheck): Promise<boolean>;
  /** Credentials that act as the user. */
  kc: k8s.KubeConfig;
}

export interface Authority {
  readonly mode: "kubeconfig" | "token";
  /** The session of this request, or why there is none (answered with 401). */
  authenticate(req: http.IncomingMessage): Promise<Session | { problem: string }>;
  /** Token mode: checks a pasted token before the login cookie is set. */
  login?(token: string): Promise<Session | { problem: string }>;
}

const apiGroupOf = (resource: ResourceCheck["resource"]) => (resource === "rollouts" ? GROUP : "events.k8s.io");
const CACHE_MS = 30_000;
const hash = (s: string) => createHash("sha256").update(s).digest("hex");

/** Answers kept briefly, so a page of 50 Rollouts does not cost 50 reviews each refresh. */
class Answers {
  private readonly answers = new Map<string, { value: boolean; at: number }>();
  async get(key: string, ask: () => Promise<boolean>): Promise<boolean> {
    const hit = this.answers.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.value;
    const value = await ask();
    if (this.answers.size > 10_000) this.answers.clear();
    this.answers.set(key, { value, at: Date.now() });
    return value;
  }
}

/** The user's kubeconfig: one user, whoever reaches the loopback port (as with `kubectl proxy`). */
export class KubeconfigAuthority implements Authority {
  readonly mode = "kubeconfig";
  private session?: Promise<Session>;

  constructor(private readonly kc: k8s.KubeConfig) {}

  async authenticate(): Promise<Session> {
    this.session ??= this.start();
    return this.session;
  }

  private async start(): Promise<Session> {
    const kc = this.kc;
    let username = kc.getCurrentUser()?.name ?? "unknown";
    let groups: string[] = [];
    try {
      const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
      username = review.status?.userInfo?.username ?? username;
      groups = review.status?.userInfo?.groups ?? [];
    } catch {
      // An API server without SelfSubjectReview: the kubeconfig's user name will do.
    }
    const answers = new Answers();
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    return {
      username,
      groups,
      id: hash(`kubeconfig\u0000${kc.getCurrentContext()}\u0000${username}`),
      kc,
      may: (check) =>
        answers.get(JSON.stringify(check), async () => {
          const review = await authz.createSelfSubjectAccessReview({
            body: { spec: { resourceAttributes: { group: apiGroupOf(check.resource), ...check } } },
          });
          return review.status?.allowed === true;
        }),
    };
  }
}

export const TOKEN_COOKIE = "fledge_token";

/** The bearer token of a request: the Authorization header, else the login cookie. */
function bearerOf(req: http.IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith("bearer ")) return header.slice(7).trim() || undefined;
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === TOKEN_COOKIE) return decodeURIComponent(value.join("=")) || undefined;
  }
  return undefined;
}

/** Bearer tokens, reviewed by the API server with the dashboard's own credentials (which need
 * only create on tokenreviews and subjectaccessreviews, and read on Rollouts and Events). */
export class TokenAuthority implements Authority {
  readonly mode = "token";
  private readonly sessions = new Map<string, { session: Session | { problem: string }; at: number }>();
  private readonly authn: k8s.AuthenticationV1Api;
  private readonly authz: k8s.AuthorizationV1Api;

  constructor(private readonly kc: k8s.KubeConfig) {
    this.authn = kc.makeApiClient(k8s.AuthenticationV1Api);
    this.authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  }

  async authenticate(req: http.IncomingMessage): Promise<Session | { problem: string }> {
    const token = bearerOf(req);
    if (!token)
      return { problem: "no credentials: sign in with a Kubernetes token, or reach the dashboard through your authenticating proxy" };
    return this.login(token);
  }

  async login(token: string): Promise<Session | { problem: string }> {
    const key = hash(token);
    const hit = this.sessions.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.session;
    const session = await this.review(token, key);
    if (this.sessions.size > 10_000) this.sessions.clear();
    this.sessions.set(key, { session, at: Date.now() });
    return session;
  }

  private async review(token: string, key: string): Promise<Session | { problem: string }> {
    let user: k8s.V1UserInfo | undefined;
    try {
      const review = await this.authn.createTokenReview({ body: { spec: { token } } });
      if (!review.status?.authenticated)
        return { problem: `the token was not accepted by the API server${review.status?.error ? `: ${review.status.error}` : ""}` };
      user = review.status.user;
    } catch (err) {
      return { problem: `the token could not be reviewed: ${(err as Error).message}` };
    }
    const username = user?.username ?? "";
    const groups = user?.groups ?? [];
    const answers = new Answers();
    const cluster = this.kc.getCurrentCluster();
    const kc = new k8s.KubeConfig();
    kc.loadFromClusterAndUser(cluster as k8s.Cluster, { name: username, token });
    return {
      username,
      groups,
      id: key,
      kc,
      may: (check) =>
        answers.get(JSON.stringify(check), async () => {
          const review = await this.authz.createSubjectAccessReview({
            body: {
              spec: {
                user: username,
                groups,
                ...(user?.uid ? { uid: user.uid } : {}),
                ...(user?.extra ? { extra: user.extra } : {}),
                resourceAttributes: { group: apiGroupOf(check.resource), ...check },
              },
            },
          });
          return review.status?.allowed === true;
        }),
    };
  }
}
