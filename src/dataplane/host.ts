// The host half of the data plane: it carries the API server's TLS stream into the sealed
// namespace and Traefik's entry point and /metrics out of it, over Unix sockets, and runs the
// inside half under `unshare -n`. Both halves are in this process's group, so stopping the
// group (cluster down) stops Traefik and the pods too.
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import type { Logger } from "../observability/logger.js";
import { type DataPlaneConfig, socketsOf } from "./config.js";
import { startForwarder } from "./forwarder.js";

export async function runDataPlaneHost(config: DataPlaneConfig, configFile: string, entryScript: string, log: Logger): Promise<number> {
  const sockets = socketsOf(config);
  await mkdir(`${config.dir}/s`, { recursive: true });
  const forwarders = await Promise.all([
    startForwarder({ path: sockets.api }, { port: config.apiServerPort }),
    startForwarder({ port: config.host.web }, { path: sockets.web }),
    startForwarder({ port: config.host.metrics }, { path: sockets.metrics }),
  ]);
  const inside = spawn("unshare", ["-n", "--", process.execPath, entryScript, "data-plane", "inside", "--config", configFile], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  log.info("data plane started", { web: `127.0.0.1:${config.host.web}`, metrics: `127.0.0.1:${config.host.metrics}` });
  const stop = (signal: NodeJS.Signals) => inside.kill(signal);
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGTERM"));
  const code = await new Promise<number>((resolve) => {
    inside.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    inside.on("error", (err) => {
      log.error("could not run the inside half of the data plane", { error: String(err) });
      resolve(1);
    });
  });
  await Promise.all(forwarders.map((f) => f.close()));
  return code;
}
