// Prometheus behind credentials, as real backends are: the real Prometheus put behind basic
// auth and TLS with client certificates (its --web.config.file), reached by the operator with
// the Secrets an AnalysisPolicy names. Wrong or missing credentials hold or stop the canary with
// a condition that says so, and never promote it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCertificates } from "../../src/devcluster/certs.js";
import { httpStatus } from "../../src/devcluster/probe.js";
import { addScrapeTarget } from "../../src/devcluster/prometheus.js";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  startOwnPrometheus,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig } from "./harness.js";

describe("Prometheus behind basic auth and mutual TLS", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let prometheus: Awaited<ReturnType<typeof startOwnPrometheus>>;
  let ro: ReturnType<typeof rolloutClient>;
  let dir: string | undefined;
  const image = (tag: string) => `example.invalid/app:${tag}`;
  const secret = (name: string, data: Record<string, string>, type?: string) =>
    kc
      .makeApiClient(k8s.CoreV1Api)
      .createNamespacedSecret({ namespace: ns, body: { metadata: { name }, stringData: data, ...(type ? { type } : {}) } });
  const policy = (name: string, basicSecret: string) =>
    testPolicy(name, {
      prometheus: {
        address: prometheus.url,
        headers: [{ name: "X-Scope-OrgID", value: "tenant-a" }],
        auth: { basic: { secretName: basicSecret } },
        tls: { caSecretKeyRef: { name: "prom-ca", key: "ca.crt" }, clientCertSecretName: "prom-client" },
      },
    });

  beforeAll(async () => {
    ns = await createNamespace(kc, "promauth");
    ro = rolloutClient(kc, ns);
    dir = mkdtempSync(path.join(tmpdir(), "fledge-promauth-"));
    const pki = await generateCertificates(path.join(dir, "pki"));
    const webConfig = path.join(dir, "web.yml");
    writeFileSync(
      webConfig,
      [
        "tls_server_config:",
        `  cert_file: ${pki.servingCert}`,
        `  key_file: ${pki.servingKey}`,
        "  client_auth_type: RequireAndVerifyClientCert",
        `  client_ca_file: ${pki.clientCa}`,
        "basic_auth_users:",
        `  fledge: ${bcrypt.hashSync("s3cret-password", 10)}`,
        "",
      ].join("\n"),
    );
    // Serving once it answers over mutual TLS (401: basic auth still wanted, as it should be).
    const tlsClient = { ca: pki.servingCa, cert: pki.adminCert, key: pki.adminKey };
    prometheus = await startOwnPrometheus(path.join(dir, "prometheus"), undefined, [`--web.config.file=${webConfig}`], async (url) =>
      [200, 401].includes(await httpStatus(`${url.replace("http://", "https://")}/-/ready`, tlsClient)),
    );
    prometheus.url = prometheus.url.replace("http://", "https://");
    await secret("prom-ca", { "ca.crt": readFileSync(pki.servingCa, "utf8") });
    await secret(
      "prom-client",
      { "tls.crt": readFileSync(pki.adminCert, "utf8"), "tls.key": readFileSync(pki.adminKey, "utf8") },
      "kubernetes.io/tls",
    );
    await secret("prom-basic", { username: "fledge", password: "s3cret-password" });
    await secret("prom-wrong", { username: "fledge", password: "not-it" });
    await apply(ns, policy("authed", "prom-basic"), policy("wrong", "prom-wrong"), policy("missing", "prom-nowhere"));
    operator = await startOperatorProcess("promauth", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
    await addScrapeTarget(prometheus.targetsDir, "sim", `127.0.0.1:${sim.port}`);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await prometheus?.stop();
    await deleteNamespace(kc, ns);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function release(name: string, policyName: string) {
    const v1 = testApp(name, { image: image("1"), errorRate: 0, policy: policyName });
    await apply(ns, v1.ingress, v1.rollout);
    await ro.waitFor(
      name,
      "stable deployed",
      (x) => x.status?.stableRevision !== undefined && x.status.stableRevision === x.status.currentRevision,
    );
    await ro.patchSpec(name, { template: testApp(name, { image: image("2"), errorRate: 0 }).rollout.spec.template });
  }

  it("with the right Secrets the canary is judged over https with basic auth and a client certificate, and promoted", async () => {
    await release("good", "authed");
    const r = await ro.waitFor("good", "promoted", isPromoted);
    expect(r.status?.analysis).toBeUndefined(); // cleared at promotion; the passes were needed to get here
    expect((await ro.events("good")).filter((e) => e === "StepCompleted").length).toBeGreaterThanOrEqual(4);
  });

  it("a wrong password stops the canary as PrometheusUnauthorized: never promoted", async () => {
    await release("denied", "wrong");
    const r = await ro.waitFor("denied", "stopped", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")?.reason).toBe("PrometheusUnauthorized");
    expect(condition(r, "AnalysisHealthy")?.message).toMatch(/refused the credentials \(HTTP 401\)/);
    expect(r.status?.stableRevision).not.toBe(r.status?.currentRevision);
  });

  it("a missing Secret holds the canary at weight 0 with a condition naming it, until the Secret exists", async () => {
    await release("nosecret", "missing");
    const held = await ro.waitFor("nosecret", "held", (x) => condition(x, "AnalysisHealthy")?.reason === "PrometheusCredentials");
    expect(condition(held, "AnalysisHealthy")?.message).toMatch(/Secret prom-nowhere not found in namespace/);
    expect(held.status?.canaryWeight ?? 0).toBe(0);
    await secret("prom-nowhere", { username: "fledge", password: "s3cret-password" });
    await ro.waitFor("nosecret", "promoted once the Secret exists", isPromoted);
  });
});
