// A fake Slack Web API on 127.0.0.1 for tests: records every call (method, headers, body),
// answers like Slack, and can be told to answer ok:false or 429 with Retry-After next.
import http from "node:http";

export interface RecordedCall {
  method: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
  at: number;
}

export interface FakeSlack {
  url: string;
  calls: RecordedCall[];
  /** The next calls answer with these, in order, before normal answers resume. */
  failNext(...answers: Array<{ status: 429; retryAfter: number } | { ok: false; error: string }>): void;
  close(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: RecordedCall[] = [];
  const queued: Array<{ status: 429; retryAfter: number } | { ok: false; error: string }> = [];
  let counter = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const method = (req.url ?? "").replace(/^\/api\//, "");
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>) : {};
      calls.push({ method, authorization: req.headers.authorization, body, at: Date.now() });
      const next = queued.shift();
      if (next && "status" in next) {
        res
          .writeHead(429, { "Retry-After": String(next.retryAfter), "Content-Type": "application/json" })
          .end(JSON.stringify({ ok: false, error: "ratelimited" }));
        return;
      }
      if (next) {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(next));
        return;
      }
      counter += 1;
      const ts = `${Math.floor(Date.now() / 1000)}.${String(counter).padStart(6, "0")}`;
      res
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ ok: true, channel: body.channel, ts: body.ts ?? ts }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext: (...answers) => queued.push(...answers),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
