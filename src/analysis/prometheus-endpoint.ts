// Turns an AnalysisPolicy's `prometheus` block into the endpoint the reader calls: the address,
// the headers (with values from Secrets) and the TLS material. Secrets are read one by one by
// name (the operator has get on exactly those, never list), and kept for a short while so a
// 1 s analysis interval does not read them every second; a rotated Secret is seen within that.
import type { PrometheusSpec, SecretKeyRef } from "../api/types.js";
import type { PrometheusEndpoint } from "./prometheus-reader.js";

/** Reads one Secret's data (base64 values, as the API returns them); throws with a message that says what is wrong. */
export interface SecretSource {
  read(namespace: string, name: string): Promise<Record<string, string>>;
}

export class SecretProblem extends Error {}

const CACHE_MS = 30_000;

export class PrometheusEndpoints {
  private readonly cache = new Map<string, { at: number; data: Record<string, string> }>();

  constructor(
    private readonly secrets: SecretSource,
    private readonly now: () => number = Date.now,
  ) {}

  private async secret(namespace: string, name: string): Promise<Record<string, string>> {
    const key = `${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < CACHE_MS) return hit.data;
    let data: Record<string, string>;
    try {
      data = await this.secrets.read(namespace, name);
    } catch (err) {
      throw err instanceof SecretProblem ? err : new SecretProblem((err as Error).message);
    }
    this.cache.set(key, { at: this.now(), data });
    return data;
  }

  private async value(namespace: string, ref: SecretKeyRef, what: string): Promise<string> {
    const data = await this.secret(namespace, ref.name);
    const raw = data[ref.key];
    if (raw === undefined)
      throw new SecretProblem(`Secret ${ref.name} has no key "${ref.key}" (${what}); it has: ${Object.keys(data).join(", ") || "no keys"}`);
    return Buffer.from(raw, "base64")
      .toString("utf8")
      .replace(/\r?\n$/, "");
  }

  /** The endpoint for a policy in `namespace`; `fallback` is the operator's --prometheus-url. */
  async resolve(namespace: string, spec: PrometheusSpec | undefined, fallback: string | undefined): Promise<PrometheusEndpoint> {
    const address = spec?.address ?? fallback;
    if (!address)
      throw new SecretProblem(
        "no Prometheus address: set spec.prometheus.address in the AnalysisPolicy or start the operator with --prometheus-url",
      );
    if (!spec) return { address };
    const headers: Record<string, string> = {};
    for (const h of spec.headers ?? []) {
      headers[h.name] = h.secretKeyRef ? await this.value(namespace, h.secretKeyRef, `header ${h.name}`) : (h.value ?? "");
    }
    const bearer = spec.auth?.bearer;
    if (bearer) headers.Authorization = `Bearer ${await this.value(namespace, bearer.secretKeyRef, "bearer token")}`;
    const basic = spec.auth?.basic;
    if (basic) {
      const user = await this.value(namespace, { name: basic.secretName, key: basic.usernameKey ?? "username" }, "basic-auth username");
      const pass = await this.value(namespace, { name: basic.secretName, key: basic.passwordKey ?? "password" }, "basic-auth password");
      headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    }
    const endpoint: PrometheusEndpoint = { address, headers };
    const tls = spec.tls;
    if (tls) {
      endpoint.tls = {
        ...(tls.caSecretKeyRef ? { ca: await this.value(namespace, tls.caSecretKeyRef, "CA bundle") } : {}),
        ...(tls.clientCertSecretName
          ? {
              cert: await this.value(namespace, { name: tls.clientCertSecretName, key: "tls.crt" }, "client certificate"),
              key: await this.value(namespace, { name: tls.clientCertSecretName, key: "tls.key" }, "client key"),
            }
          : {}),
        ...(tls.serverName ? { serverName: tls.serverName } : {}),
        ...(tls.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
      };
    }
    return endpoint;
  }
}
