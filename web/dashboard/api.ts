// The dashboard's calls to its server: JSON in and out, the CSRF token on every write, and the
// server's own words when it refuses.
import type { RolloutDetail, RolloutRow } from "../../src/dashboard/views.js";

export type { RolloutDetail, RolloutRow };

export interface SessionInfo {
  username: string;
  groups: string[];
  mode: "kubeconfig" | "token";
  csrfToken: string;
}

export class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken = "";

async function call<T>(method: "GET" | "POST", url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      accept: "application/json",
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(method === "POST" ? { "x-csrf-token": csrfToken } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const data = (await res.json().catch(() => ({}))) as T & { problem?: string };
  if (!res.ok) throw new Refused(res.status, data.problem ?? `HTTP ${res.status}`);
  return data;
}

export async function session(): Promise<SessionInfo> {
  const s = await call<SessionInfo>("GET", "/api/session");
  csrfToken = s.csrfToken;
  return s;
}

export const login = (token: string) => call<{ username: string }>("POST", "/api/login", { token });
export const logout = () => call<object>("POST", "/api/logout", {});
export const listRollouts = (namespace?: string) =>
  call<{ rollouts: RolloutRow[]; namespaces: string[] }>(
    "GET",
    `/api/rollouts${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ""}`,
  );
export const getRollout = (namespace: string, name: string) =>
  call<RolloutDetail>("GET", `/api/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
export const act = (namespace: string, name: string, action: string) =>
  call<{ action: string; value: string }>("POST", `/api/rollouts/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/actions`, {
    action,
  });

/** Rollout changes as they happen (server-sent events); reconnects by itself. */
export function subscribe(onRow: (row: RolloutRow | { deleted: true; namespace: string; name: string }) => void): () => void {
  const source = new EventSource("/api/stream");
  source.addEventListener("rollout", (e) => onRow(JSON.parse((e as MessageEvent<string>).data)));
  return () => source.close();
}
