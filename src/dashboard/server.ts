// The dashboard's HTTP server: the bundled page (dist/web, built from web/dashboard/), a JSON
// API, and a server-sent event stream of Rollout changes. Every read is limited to what the
// user may read and every action is the user's own (src/dashboard/identity.ts). Hardening:
// - state-changing requests need the CSRF token of the user's session (an HMAC of it, sent in
//   a header a form cannot set) and, when the browser sends one, an Origin of this server;
// - a strict Content-Security-Policy: scripts, styles and connections to this server only, no
//   inline code, no frames; nothing is loaded from any other host (everything is bundled);
// - in kubeconfig mode (loopback) the Host header must name the loopback address, so a page
//   elsewhere cannot reach it through DNS rebinding;
// - tokens never go in a URL or a log line; the login cookie is HttpOnly and SameSite=Strict.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { GROUP, type Rollout, VERSION } from "../api/types.js";
import { actionValue, approvalValue } from "../controller/user-actions.js";
import { writeActionAnnotation } from "../kube/action-annotation.js";
import { apiProblem } from "../kube/client.js";
import { ScopedWatcher } from "../kube/scoped-watcher.js";
import type { Logger } from "../observability/logger.js";
import { type Authority, type Session, TOKEN_COOKIE } from "./identity.js";
import { type ActionName, detailOf, type EventView, rowOf } from "./views.js";

/** The bundle `make build` writes (scripts/build-web.mjs), beside the compiled server. */
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "web");

const ACTIONS: readonly ActionName[] = ["promote", "promote-full", "abort", "retry", "approve", "reject"];

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

export interface DashboardOptions {
  authority: Authority;
  /** Reads the Rollouts for everyone (kubeconfig mode: the user's own credentials). */
  kc: k8s.KubeConfig;
  /** Empty: every namespace. */
  namespaces: readonly string[];
  port: number;
  host?: string;
  log: Logger;
}

export interface RunningDashboard {
  port: number;
  url: string;
  close(): Promise<void>;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Subscriber = { session: Session; res: http.ServerResponse };

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const { authority, log } = options;
  const secret = randomBytes(32);
  const csrfOf = (session: Session) => createHmac("sha256", secret).update(session.id).digest("base64url");
  const subscribers = new Set<Subscriber>();

  const publish = (rollout: Rollout, deleted: boolean) => {
    const namespace = rollout.metadata.namespace ?? "";
    const data = deleted ? { deleted: true, namespace, name: rollout.metadata.name ?? "" } : rowOf(rollout);
    for (const sub of subscribers) {
      void sub.session
        .may({ verb: "list", resource: "rollouts", namespace })
        .then((ok) => {
          if (ok && !sub.res.writableEnded) sub.res.write(`event: rollout\ndata: ${JSON.stringify(data)}\n\n`);
        })
        .catch(() => undefined);
    }
  };
  const rollouts = new ScopedWatcher<Rollout>({
    name: "rollouts",
    kc: options.kc,
    log,
    resource: { apiVersion: `${GROUP}/${VERSION}`, kind: "Rollout", plural: "rollouts" },
    namespaces: options.namespaces,
    handlers: { onChange: (r) => publish(r, false), onDelete: (r) => publish(r, true) },
  });
  await rollouts.start();

  const assets = new Map<string, { type: string; body: Buffer }>();
  const asset = async (name: string, type: string) => {
    let hit = assets.get(name);
    if (!hit) {
      const body = await readFile(path.join(WEB_DIR, name)).catch(() => {
        throw new HttpProblem(500, `the dashboard's page is not built (${path.join(WEB_DIR, name)} missing): run 'make build'`);
      });
      hit = { type, body };
      assets.set(name, hit);
    }
    return hit;
  };

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, "content-type": "application/json", "cache-control": "no-store", ...headers });
    res.end(JSON.stringify(body));
  };

  const sessionOf = async (req: http.IncomingMessage): Promise<Session> => {
    const session = await authority.authenticate(req);
    if ("problem" in session) throw new HttpProblem(401, session.problem);
    return session;
  };

  /** A request that changes something: the session's CSRF token in a header, and our own origin. */
  const checkWrite = (req: http.IncomingMessage, session: Session | undefined) => {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`)
      throw new HttpProblem(403, `refused: the request came from another origin (${origin})`);
    if (!session) return;
    const given = String(req.headers["x-csrf-token"] ?? "");
    const expected = csrfOf(session);
    if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected)))
      throw new HttpProblem(403, "refused: missing or wrong CSRF token (reload the page)");
  };

  const readBody = async (req: http.IncomingMessage): Promise<Record<string, unknown>> => {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) throw new HttpProblem(413, "request too large");
      chunks.push(chunk as Buffer);
    }
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      return typeof parsed === "object" && parsed !== null ? parsed : {};
    } catch {
      throw new HttpProblem(400, "the body must be JSON");
    }
  };

  const requireAllowed = async (session: Session, verb: "get" | "list" | "patch", namespace: string) => {
    if (!(await session.may({ verb, resource: "rollouts", namespace })))
      throw new HttpProblem(
        403,
        `${session.username} may not ${verb} rollouts.${GROUP} in namespace ${namespace}: ask for a Role granting "${verb}" on "rollouts" (apiGroup ${GROUP}) there`,
      );
  };

  const eventsOf = async (session: Session, namespace: string, name: string): Promise<EventView[]> => {
    try {
      const list = await session.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({
        namespace,
        fieldSelector: `regarding.kind=Rollout,regarding.name=${name}`,
      });
      return list.items.map((e) => ({
        type: e.type ?? "Normal",
        reason: e.reason ?? "",
        message: e.note ?? "",
        at: new Date(
          e.series?.lastObservedTime ?? e.eventTime ?? e.deprecatedLastTimestamp ?? e.metadata?.creationTimestamp ?? Date.now(),
        ).toISOString(),
        count: e.series?.count ?? e.deprecatedCount ?? 1,
      }));
    } catch {
      return []; // no right to read Events there: the page shows the rest
    }
  };

  const hostAllowed = (req: http.IncomingMessage, port: number) => {
    if (authority.mode !== "kubeconfig") return true;
    const host = req.headers.host ?? "";
    return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host);
  };

  let listeningPort = options.port;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const route = url.pathname;
    try {
      if (!hostAllowed(req, listeningPort)) throw new HttpProblem(403, "refused: this dashboard answers only on its loopback address");
      if (req.method === "GET" && (route === "/" || route === "/index.html")) {
        const page = await asset("index.html", "text/html; charset=utf-8");
        res.writeHead(200, { ...SECURITY_HEADERS, "content-type": page.type, "cache-control": "no-store" });
        res.end(page.body);
        return;
      }
      if (req.method === "GET" && /^\/assets\/[a-z0-9.-]+\.(js|css)$/.test(route)) {
        const name = route.slice("/assets/".length);
        const file = await asset(name, name.endsWith(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8");
        res.writeHead(200, { ...SECURITY_HEADERS, "content-type": file.type, "cache-control": "no-cache" });
        res.end(file.body);
        return;
      }
      if (req.method === "POST" && route === "/api/login") {
        checkWrite(req, undefined);
        if (!authority.login) throw new HttpProblem(404, "this dashboard uses your kubeconfig: there is nothing to sign in to");
        const token = String((await readBody(req)).token ?? "").trim();
        const session = await authority.login(token);
        if ("problem" in session) throw new HttpProblem(401, session.problem);
        const secure = req.headers["x-forwarded-proto"] === "https" || (req.socket as { encrypted?: boolean }).encrypted === true;
        log.info("signed in", { user: session.username });
        send(
          res,
          200,
          { username: session.username },
          {
            "set-cookie": `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`,
          },
        );
        return;
      }
      if (req.method === "POST" && route === "/api/logout") {
        checkWrite(req, undefined);
        send(res, 200, {}, { "set-cookie": `${TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
        return;
      }
      if (!route.startsWith("/api/")) throw new HttpProblem(404, "not found");

      const session = await sessionOf(req);
      if (req.method === "GET" && route === "/api/session") {
        send(res, 200, { username: session.username, groups: session.groups, mode: authority.mode, csrfToken: csrfOf(session) });
        return;
      }
      if (req.method === "GET" && route === "/api/rollouts") {
        const namespace = url.searchParams.get("namespace") || undefined;
        const all = rollouts.list(namespace);
        const namespaces = [...new Set(all.map((r) => r.metadata.namespace ?? ""))];
        const readable = new Set<string>();
        await Promise.all(
          namespaces.map(async (ns) => {
            if (await session.may({ verb: "list", resource: "rollouts", namespace: ns })) readable.add(ns);
          }),
        );
        const rows = all.filter((r) => readable.has(r.metadata.namespace ?? "")).map(rowOf);
        rows.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
        send(res, 200, { rollouts: rows, namespaces: [...readable].sort() });
        return;
      }
      if (req.method === "GET" && route === "/api/stream") {
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          connection: "keep-alive",
        });
        res.write(`event: hello\ndata: ${JSON.stringify({ username: session.username })}\n\n`);
        const sub = { session, res };
        subscribers.add(sub);
        const beat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
        req.on("close", () => {
          clearInterval(beat);
          subscribers.delete(sub);
        });
        return;
      }
      const one = /^\/api\/rollouts\/([a-z0-9-]+)\/([a-z0-9.-]+)(\/actions)?$/.exec(route);
      if (one) {
        const [, namespace = "", name = "", actions] = one;
        if (req.method === "GET" && !actions) {
          await requireAllowed(session, "get", namespace);
          const rollout = rollouts.get(name, namespace);
          if (!rollout) throw new HttpProblem(404, `Rollout ${namespace}/${name} not found`);
          send(res, 200, detailOf(rollout, await eventsOf(session, namespace, name)));
          return;
        }
        if (req.method === "POST" && actions) {
          checkWrite(req, session);
          const kind = String((await readBody(req)).action ?? "") as ActionName;
          if (!ACTIONS.includes(kind)) throw new HttpProblem(400, `unknown action "${kind}": one of ${ACTIONS.join(", ")}`);
          // Exactly what `fledge promote|abort|…` and `kubectl annotate` need: patch on the Rollout.
          await requireAllowed(session, "patch", namespace);
          const value = kind === "approve" || kind === "reject" ? approvalValue(kind, session.username) : actionValue(kind);
          try {
            await writeActionAnnotation(session.kc.makeApiClient(k8s.CustomObjectsApi), namespace, name, value);
          } catch (err) {
            const p = apiProblem(err);
            throw new HttpProblem(p.code === 403 ? 403 : p.code === 404 ? 404 : 502, `the API server refused the action: ${p.message}`);
          }
          log.info("action requested from the dashboard", { user: session.username, namespace, name, action: kind });
          send(res, 202, { action: kind, value });
          return;
        }
      }
      throw new HttpProblem(404, "not found");
    } catch (err) {
      const status = err instanceof HttpProblem ? err.status : 500;
      if (status >= 500) log.warn("dashboard request failed", { route, error: (err as Error).message });
      if (!res.headersSent) send(res, status, { problem: (err as Error).message });
      else res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  listeningPort = typeof address === "object" && address ? address.port : options.port;
  const host = options.host ?? "127.0.0.1";
  return {
    port: listeningPort,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${listeningPort}/`,
    async close() {
      for (const sub of subscribers) sub.res.end();
      subscribers.clear();
      await rollouts.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
