// A loopback CloudEvents receiver for tests: reads each request with the CloudEvents SDK (a
// request that is not a valid CloudEvent is answered 400 and not recorded), records its headers
// and data, and can answer the next requests with an error status to exercise the sender's retries.
import http from "node:http";
import { HTTP } from "cloudevents";

export interface ReceivedEvent {
  headers: http.IncomingHttpHeaders;
  data: Record<string, unknown>;
}

export interface EventSink {
  url: string;
  received: ReceivedEvent[];
  /** The next `count` requests are answered with `status` (and not recorded as received). */
  failNext(count: number, status?: number): void;
  attempts(): number;
  close(): Promise<void>;
}

export async function startEventSink(): Promise<EventSink> {
  const received: ReceivedEvent[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 503 };
  let attempts = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      attempts += 1;
      if (failures.count > 0) {
        failures.count -= 1;
        res.writeHead(failures.status).end();
        return;
      }
      try {
        const event = HTTP.toEvent({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        const data = (Array.isArray(event) ? event[0]?.data : event.data) as Record<string, unknown> | undefined;
        received.push({ headers: req.headers, data: data ?? {} });
        res.writeHead(202).end();
      } catch (err) {
        res.writeHead(400, { "content-type": "text/plain" }).end(`not a valid CloudEvent: ${(err as Error).message}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    failNext: (count, status = 503) => {
      failures = { count, status };
    },
    attempts: () => attempts,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
