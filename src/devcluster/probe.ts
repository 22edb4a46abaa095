// Readiness probes for the local cluster's components, and a wait loop that fails fast when
// the component being waited for has died (with the reason from its log).

import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { logTail, type StartedProcess } from "./process-group.js";

export interface TlsClient {
  ca: string;
  cert: string;
  key: string;
}

/** GET a URL and resolve with the status code (0 when the connection fails). */
export function httpStatus(url: string, tls?: TlsClient | "self-signed", timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    // kube-controller-manager and kube-scheduler serve /healthz with a self-signed
    // certificate made at start-up: there is nothing to verify it against.
    const options =
      tls === "self-signed"
        ? { rejectUnauthorized: false, timeout: timeoutMs }
        : tls
          ? { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key), timeout: timeoutMs }
          : { timeout: timeoutMs };
    const request = (url.startsWith("https:") ? https : http).get(url, options, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(0));
  });
}

export class ComponentFailed extends Error {}

/** Polls until `ready()` is true; throws a clear message if the process dies or time runs out. */
export async function waitUntilReady(component: StartedProcess, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exit = component.exited();
    if (exit !== undefined) {
      const tail = logTail(component.logFile);
      const portInUse = /address already in use|bind: address/i.test(tail);
      throw new ComponentFailed(
        `${component.name} stopped during start-up (${exit})${portInUse ? ": a port it was given is in use" : ""}. ` +
          `Last lines of ${component.logFile}:\n${tail}`,
      );
    }
    if (await ready()) return;
    await sleep(200);
  }
  throw new ComponentFailed(
    `${component.name} was not ready after ${Math.round(timeoutMs / 1000)} s. Last lines of ${component.logFile}:\n${logTail(component.logFile)}`,
  );
}
