// The policy's prometheus block turned into real HTTP requests: bearer token and header values
// from Secrets, a path prefix, and the error kinds the analysis acts on, against a loopback
// server that answers as Prometheus does.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrometheusEndpoints, SecretProblem } from "../../src/analysis/prometheus-endpoint.js";
import { type PrometheusError, PrometheusReader } from "../../src/analysis/prometheus-reader.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const secrets: Record<string, Record<string, string>> = {
  "shop/prom-token": { token: b64("tok-123\n") },
  "shop/tenant": { org: b64("tenant-a") },
};
const source = {
  read: async (namespace: string, name: string) => {
    const data = secrets[`${namespace}/${name}`];
    if (!data) throw new SecretProblem(`Secret ${name} not found in namespace ${namespace}`);
    return data;
  },
};

describe("Prometheus endpoints from a policy", () => {
  let server: http.Server;
  let base: string;
  const seen: Array<{ url: string; auth?: string; org?: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? "", auth: req.headers.authorization, org: req.headers["x-scope-orgid"] as string | undefined });
      const url = new URL(req.url ?? "", "http://x");
      res.setHeader("Content-Type", "application/json");
      if (!url.pathname.startsWith("/prometheus/api/v1/query")) return res.writeHead(404).end("404 page not found");
      if (req.headers.authorization !== "Bearer tok-123") return res.writeHead(401).end("Unauthorized");
      if (url.searchParams.get("query")?.includes("{")) {
        res.writeHead(400);
        return res.end(JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error: unexpected end of input" }));
      }
      res.end(
        JSON.stringify({
          status: "success",
          data: { resultType: "vector", result: [{ metric: { job: "a", instance: "b" }, value: [1, "42"] }] },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("sends the bearer token and header values from Secrets, under the address's path prefix", async () => {
    const endpoint = await new PrometheusEndpoints(source).resolve(
      "shop",
      {
        address: `${base}/prometheus`,
        auth: { bearer: { secretKeyRef: { name: "prom-token", key: "token" } } },
        headers: [{ name: "X-Scope-OrgID", secretKeyRef: { name: "tenant", key: "org" } }],
      },
      undefined,
    );
    const values = await new PrometheusReader().query(endpoint, "up");
    expect(values).toEqual({ "instance=b,job=a": 42 });
    expect(seen.at(-1)).toMatchObject({ auth: "Bearer tok-123", org: "tenant-a" });
    expect(seen.at(-1)?.url).toMatch(/^\/prometheus\/api\/v1\/query\?/);
  });

  it("tells wrong credentials, a broken query and a wrong path apart", async () => {
    const reader = new PrometheusReader();
    const kind = async (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: PrometheusError) => e.kind,
      );
    expect(await kind(reader.query({ address: `${base}/prometheus` }, "up"))).toBe("unauthorized");
    const authed = { address: `${base}/prometheus`, headers: { Authorization: "Bearer tok-123" } };
    expect(await kind(reader.query(authed, "up{"))).toBe("invalid");
    expect(await kind(reader.query({ ...authed, address: base }, "up"))).toBe("invalid");
    expect(await kind(reader.query({ address: "http://127.0.0.1:1" }, "up"))).toBe("unavailable");
  });

  it("a missing Secret or key is a problem that names it", async () => {
    const endpoints = new PrometheusEndpoints(source);
    await expect(
      endpoints.resolve("shop", { address: base, auth: { bearer: { secretKeyRef: { name: "nope", key: "t" } } } }, undefined),
    ).rejects.toThrow(/Secret nope not found in namespace shop/);
    await expect(
      endpoints.resolve("shop", { address: base, auth: { bearer: { secretKeyRef: { name: "prom-token", key: "tok" } } } }, undefined),
    ).rejects.toThrow(/Secret prom-token has no key "tok" \(bearer token\); it has: token/);
  });
});
