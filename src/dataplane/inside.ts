// The half of the data plane inside the sealed network namespace: it seals the namespace
// (refusing to go on if any route leads out), bridges the sockets from host.ts to its own
// loopback ports, runs Traefik and plays the pods. Traefik dials pod IPs (10.244.x.y), which
// are local here and nowhere else: no packet of the data plane leaves the namespace.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../observability/logger.js";
import { type DataPlaneConfig, type DataPlaneReady, readyFileOf, socketsOf } from "./config.js";
import { startForwarder } from "./forwarder.js";
import { PodResponder } from "./pods.js";
import { escapeRoutes, readNetwork, sealLoopback } from "./sealed-network.js";
import { traefikStaticConfig } from "./traefik.js";

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

export async function runDataPlaneInside(config: DataPlaneConfig, log: Logger): Promise<number> {
  sealLoopback(config.podCidr);
  const network = readNetwork();
  const escapes = escapeRoutes(network.routes, network.links);
  if (escapes.length > 0) {
    log.error("refusing to start the data plane: this network namespace has a way out", { escapes });
    return 2;
  }
  const sockets = socketsOf(config);
  const forwarders = await Promise.all([
    startForwarder({ port: config.inside.api }, { path: sockets.api }),
    startForwarder({ path: sockets.web }, { port: config.inside.web }),
    startForwarder({ path: sockets.metrics }, { port: config.inside.metrics }),
  ]);
  const traefikConfig = path.join(config.dir, "traefik.yml");
  await writeFile(
    traefikConfig,
    traefikStaticConfig({ web: config.inside.web, metrics: config.inside.metrics }, path.join(config.logsDir, "traefik-errors.log")),
  );
  const traefikLog = openSync(path.join(config.logsDir, "traefik.log"), "a");
  const traefik: ChildProcess = spawn(config.traefikBinary, [`--configFile=${traefikConfig}`], {
    stdio: ["ignore", traefikLog, traefikLog],
    env: { ...process.env, KUBECONFIG: config.kubeconfigInside },
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(config.kubeconfigInside);
  const pods = new PodResponder(kc, log);
  let stopping = false;
  const exited = new Promise<number>((resolve) => {
    traefik.on("exit", (code, signal) => {
      if (!stopping) log.error("Traefik exited", { code, signal });
      resolve(stopping ? 0 : 1);
    });
    traefik.on("error", (err) => {
      log.error("could not start Traefik", { binary: config.traefikBinary, error: String(err) });
      resolve(1);
    });
  });
  const stop = () => {
    stopping = true;
    traefik.kill("SIGTERM");
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);

  await pods.start();
  const deadline = Date.now() + 60_000;
  while (!(await answers(`http://127.0.0.1:${config.inside.metrics}/ping`))) {
    if (Date.now() > deadline || traefik.exitCode !== null) {
      log.error("Traefik did not answer /ping within 60 s; see traefik.log");
      stop();
      break;
    }
    await sleep(100);
  }
  if (!stopping && traefik.pid !== undefined) {
    const ready: DataPlaneReady = { insidePid: process.pid, traefikPid: traefik.pid, at: new Date().toISOString() };
    const file = readyFileOf(config);
    await writeFile(`${file}.tmp`, JSON.stringify(ready));
    await rename(`${file}.tmp`, file);
    log.info("data plane ready inside its sealed namespace", { traefikPid: traefik.pid });
  }
  const code = await exited;
  await pods.stop();
  await Promise.all(forwarders.map((f) => f.close()));
  return code;
}
