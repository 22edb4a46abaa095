// A byte-for-byte stream forwarder between a TCP port on one side of the sealed network
// namespace and a Unix socket file, which both sides can open: a pathname socket lives in the
// file system, not in a network namespace. Nothing is parsed; TLS passes through untouched.
import { rm } from "node:fs/promises";
import net from "node:net";

/** Where a forwarder listens or connects: a loopback TCP port of the namespace it runs in, or a socket file. */
export type StreamAddress = { port: number } | { path: string };

export interface RunningForwarder {
  /** The TCP port it listens on (the chosen one when asked for port 0), or undefined for a socket file. */
  port: number | undefined;
  close(): Promise<void>;
}

const connectTo = (target: StreamAddress) => ("path" in target ? net.connect(target.path) : net.connect(target.port, "127.0.0.1"));

export async function startForwarder(listen: StreamAddress, target: StreamAddress): Promise<RunningForwarder> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = connectTo(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      // A reset on one side ends the other; the error itself is the peer's business.
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  if ("path" in listen) await rm(listen.path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if ("path" in listen) server.listen(listen.path, resolve);
    else server.listen(listen.port, "127.0.0.1", resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
