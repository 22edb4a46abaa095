// The pods' side of the real data plane. kwok runs no containers, so this one server plays
// every pod: inside the sealed namespace the whole pod range is local (sealed-network.ts), it
// listens on 0.0.0.0 at each port an EndpointSlice lists (what the proxy dials; templates often
// declare no containerPort), and tells which pod was dialled
// from the socket's local address. Each answer follows that pod's own template
// (FLEDGE_SIM_ERROR_RATE, FLEDGE_SIM_LATENCY_MS), times its namespace's error multiplier during a
// pretend incident (sim.fledge.dev/error-multiplier), and names the pod, track and revision in
// headers, so clients can count what the proxy really sent where.
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { LABEL_REVISION, LABEL_TRACK } from "../api/names.js";
import { Watcher } from "../kube/watcher.js";
import type { Logger } from "../observability/logger.js";
import { behaviourOfEnv, errorMultiplierOf, HEADER_POD, HEADER_REVISION, HEADER_TRACK } from "../simulated-app/behaviour.js";
import { Random } from "../simulated-app/random.js";

export interface PodBehaviour {
  ip: string;
  namespace: string;
  pod: string;
  track: string;
  revision: string;
  errorRate: number;
  latencyMs: number;
}

/** What a pod answers, from its spec and labels; undefined until it has an IP. Pure. */
export function podBehaviourOf(pod: k8s.V1Pod): PodBehaviour | undefined {
  const ip = pod.status?.podIP;
  if (!ip || pod.status?.phase !== "Running") return undefined;
  const container = pod.spec?.containers?.[0];
  const labels = pod.metadata?.labels ?? {};
  return {
    ip,
    namespace: pod.metadata?.namespace ?? "",
    pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
    // Fledge labels every pod of its own; any other pod a route reaches is the stable side (the
    // user's own Deployment, released in place through a workloadRef), unless its template says
    // otherwise: the peers' canaries in bench/peers.ts carry FLEDGE_SIM_TRACK=canary.
    track: labels[LABEL_TRACK] ?? container?.env?.find((e) => e.name === "FLEDGE_SIM_TRACK")?.value ?? "stable",
    revision: labels[LABEL_REVISION] ?? labels["pod-template-hash"] ?? "",
    ...behaviourOfEnv(container?.env ?? [], container?.image),
  };
}

export class PodResponder {
  private readonly byIp = new Map<string, PodBehaviour>();
  private readonly servers = new Map<number, http.Server>();
  private readonly random = new Random(Date.now());
  private readonly watcher: Watcher<k8s.V1Pod>;
  private readonly slices: Watcher<k8s.V1EndpointSlice>;
  private readonly namespaces: Watcher<k8s.V1Namespace>;
  /** Error multipliers of namespaces in an incident; absent: 1. */
  private readonly multiplierOf = new Map<string, number>();

  constructor(
    kc: k8s.KubeConfig,
    private readonly log: Logger,
  ) {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    this.slices = new Watcher<k8s.V1EndpointSlice>({
      name: "endpointslices",
      kc,
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      list: () => discovery.listEndpointSliceForAllNamespaces(),
      log,
      handlers: {
        onChange: (slice) => {
          for (const p of slice.ports ?? [])
            if (p.port && (p.protocol ?? "TCP") === "TCP" && !this.servers.has(p.port)) this.listen(p.port);
        },
        onDelete: () => {},
      },
    });
    this.namespaces = new Watcher<k8s.V1Namespace>({
      name: "namespaces",
      kc,
      path: "/api/v1/namespaces",
      list: () => core.listNamespace(),
      log,
      handlers: {
        onChange: (ns) => {
          const name = ns.metadata?.name ?? "";
          const m = errorMultiplierOf(ns.metadata?.annotations);
          if (m === 1) this.multiplierOf.delete(name);
          else this.multiplierOf.set(name, m);
        },
        onDelete: (ns) => this.multiplierOf.delete(ns.metadata?.name ?? ""),
      },
    });
    this.watcher = new Watcher<k8s.V1Pod>({
      name: "pods",
      kc,
      path: "/api/v1/pods",
      list: () => core.listPodForAllNamespaces(),
      log,
      handlers: {
        onChange: (pod) => this.update(pod),
        onDelete: (pod) => {
          const ip = pod.status?.podIP;
          if (ip && this.byIp.get(ip)?.pod === `${pod.metadata?.namespace}/${pod.metadata?.name}`) this.byIp.delete(ip);
        },
      },
    });
  }

  async start(): Promise<void> {
    await this.namespaces.start();
    await this.watcher.start();
    await this.slices.start();
  }

  /** Ports listened on now. */
  ports(): number[] {
    return [...this.servers.keys()];
  }

  private update(pod: k8s.V1Pod): void {
    const behaviour = podBehaviourOf(pod);
    if (!behaviour) return;
    this.byIp.set(behaviour.ip, behaviour);
  }

  private listen(port: number): void {
    const server = http.createServer((req, res) => this.answer(req, res));
    server.keepAliveTimeout = 30_000;
    server.on("error", (err) => this.log.error("pod port could not be served", { port, error: String(err) }));
    server.listen(port, "0.0.0.0");
    this.servers.set(port, server);
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    const pod = this.byIp.get(req.socket.localAddress ?? "");
    // No pod has this IP (any more): like a dial to an address nobody holds, nothing answers.
    if (!pod) {
      req.socket.destroy();
      return;
    }
    const multiplier = this.multiplierOf.get(pod.namespace) ?? 1;
    const status = this.random.bernoulli(Math.min(pod.errorRate * multiplier, 1)) ? 500 : 200;
    const delay = Math.min(this.random.exponential(pod.latencyMs), 10_000);
    setTimeout(() => {
      res.writeHead(status, {
        "content-type": "application/json",
        [HEADER_POD]: pod.pod,
        [HEADER_TRACK]: pod.track,
        [HEADER_REVISION]: pod.revision,
      });
      res.end(`${JSON.stringify({ pod: pod.pod, track: pod.track, revision: pod.revision, status })}\n`);
    }, delay);
  }

  async stop(): Promise<void> {
    await Promise.all([this.watcher.stop(), this.slices.stop(), this.namespaces.stop()]);
    await Promise.all(
      [...this.servers.values()].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }
}
