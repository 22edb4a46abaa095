// Certificates for the local control plane, made with the openssl CLI (Node's crypto can
// make keys but not X.509 certificates). Everything is throwaway and lives in the cluster dir.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface ClusterCertificates {
  servingCa: string;
  servingCert: string;
  servingKey: string;
  clientCa: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`openssl ${args[0]} failed: ${detail.trim()}. Is openssl installed (apt-get install openssl)?`);
  }
}

async function makeCa(dir: string, name: string, commonName: string): Promise<void> {
  await openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
    ],
    dir,
  );
}

async function signLeaf(dir: string, name: string, ca: string, subject: string, extensions: string): Promise<void> {
  await writeFile(path.join(dir, `${name}.ext`), extensions);
  await openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      subject,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    ],
    dir,
  );
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "3650",
      "-out",
      `${name}.crt`,
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
}

export async function generateCertificates(dir: string): Promise<ClusterCertificates> {
  await mkdir(dir, { recursive: true });
  await makeCa(dir, "serving-ca", "fledge-local-serving-ca");
  await makeCa(dir, "client-ca", "fledge-local-client-ca");
  await signLeaf(
    dir,
    "apiserver",
    "serving-ca",
    "/CN=kube-apiserver",
    [
      // 10.96.0.1 is the in-cluster `kubernetes` Service address (first of the Service range in
      // cluster.ts), named only so the certificate matches it; nothing here ever dials it.
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
      "extendedKeyUsage=serverAuth",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "",
    ].join("\n"),
  );
  // system:masters makes this identity a cluster admin without any RBAC object.
  await signLeaf(
    dir,
    "admin",
    "client-ca",
    "/O=system:masters/CN=fledge-admin",
    ["extendedKeyUsage=clientAuth", "keyUsage=critical,digitalSignature,keyEncipherment", ""].join("\n"),
  );
  // Service-account tokens are signed with RSA, which every verifier accepts.
  await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key"], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  const at = (file: string) => path.join(dir, file);
  return {
    servingCa: at("serving-ca.crt"),
    servingCert: at("apiserver.crt"),
    servingKey: at("apiserver.key"),
    clientCa: at("client-ca.crt"),
    adminCert: at("admin.crt"),
    adminKey: at("admin.key"),
    serviceAccountKey: at("sa.key"),
    serviceAccountPub: at("sa.pub"),
  };
}
