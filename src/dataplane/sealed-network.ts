// The sealed network namespace the real data plane runs in (shared design traffic.md, "the
// network rule"): only `lo`, up, with the pod range made local to it, so every pod IP answers
// inside and no packet has a route out of the machine. `unshare -n` makes it; its life is the
// life of the processes in it, so nothing is left behind when they stop.
import { execFileSync } from "node:child_process";

/** kwok hands out pod IPs from this range (src/devcluster/cluster.ts); inside, it is all local. */
export const POD_CIDR = "10.244.0.0/16";

export type SealedNetworkSupport = { ok: true } | { ok: false; why: string };

/** Whether this machine lets us make a network namespace (root, or a user namespace allowed). */
export function sealedNetworkSupport(): SealedNetworkSupport {
  for (const tool of ["unshare", "ip"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return { ok: false, why: `${tool} is not installed (util-linux / iproute2)` };
    }
  }
  try {
    execFileSync("unshare", ["-n", "true"], { stdio: ["ignore", "ignore", "pipe"] });
    return { ok: true };
  } catch (err) {
    const detail = String((err as { stderr?: Buffer }).stderr ?? err).trim();
    return {
      ok: false,
      why: `cannot make a network namespace here (${detail || "unshare -n failed"}); it needs root or unprivileged user namespaces`,
    };
  }
}

/** Run inside the fresh namespace, before anything listens: `lo` up, the pod range local. */
export function sealLoopback(podCidr = POD_CIDR): void {
  execFileSync("ip", ["link", "set", "lo", "up"]);
  execFileSync("ip", ["route", "add", "local", podCidr, "dev", "lo"]);
}

export interface IpRoute {
  dst?: string;
  dev?: string;
  type?: string;
  table?: string;
  gateway?: string;
}

export interface IpLink {
  ifname?: string;
}

/** What would let a packet leave: any interface but lo, any route not on lo or through a gateway.
 * Empty means sealed. Pure, so the start-up check and the test judge the same way. */
export function escapeRoutes(routes: readonly IpRoute[], links: readonly IpLink[]): string[] {
  const problems: string[] = [];
  for (const link of links) if (link.ifname !== "lo") problems.push(`interface ${link.ifname ?? "?"} besides lo`);
  for (const route of routes) {
    if (route.dev !== "lo" || route.gateway !== undefined)
      problems.push(
        `route ${route.type ?? ""} ${route.dst ?? "?"} via ${route.gateway ?? "-"} dev ${route.dev ?? "?"}`.replace(/\s+/g, " "),
      );
  }
  return problems;
}

/** The routes (every table, IPv4 and IPv6) and links of the namespace this process is in. */
export function readNetwork(): { routes: IpRoute[]; links: IpLink[] } {
  const json = (args: string[]) => JSON.parse(execFileSync("ip", ["-j", ...args], { encoding: "utf8" }) || "[]");
  return {
    routes: [...json(["-4", "route", "show", "table", "all"]), ...json(["-6", "route", "show", "table", "all"])],
    links: json(["link", "show"]),
  };
}
