import { readFileSync } from "node:fs";
import { stringify } from "yaml";

export interface KubeconfigInput {
  server: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  user?: string;
}

/** A kubeconfig with the certificates inlined, so it can be copied anywhere. */
export function renderKubeconfig(input: KubeconfigInput): string {
  const b64 = (file: string) => Buffer.from(readFileSync(file)).toString("base64");
  const user = input.user ?? "fledge-admin";
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "fledge-local", cluster: { server: input.server, "certificate-authority-data": b64(input.caFile) } }],
    users: [{ name: user, user: { "client-certificate-data": b64(input.certFile), "client-key-data": b64(input.keyFile) } }],
    contexts: [{ name: "fledge-local", context: { cluster: "fledge-local", user, namespace: "default" } }],
    "current-context": "fledge-local",
  });
}
