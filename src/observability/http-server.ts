// The operator's HTTP endpoints: /metrics (Prometheus), /healthz (the process is alive),
// /readyz (the informers have synced). Other routes (the Slack endpoint, later) plug in.
import http from "node:http";
import type { Registry } from "prom-client";

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  ready: () => boolean;
  routes?: Route[];
}

export async function startHttpServer(
  options: HttpServerOptions,
): Promise<{ server: http.Server; port: number; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/metrics") {
        res.writeHead(200, { "Content-Type": options.registry.contentType });
        res.end(await options.registry.metrics());
        return;
      }
      if (path === "/healthz") {
        res.writeHead(200).end("ok");
        return;
      }
      if (path === "/readyz") {
        const ready = options.ready();
        res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "informers not synced");
        return;
      }
      for (const route of options.routes ?? []) if (await route(req, res)) return;
      res.writeHead(404).end("not found");
    } catch (err) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return { server, port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
