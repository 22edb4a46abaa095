// The Helm chart renders and applies (server-side dry run, then for real); its values reach the
// operator (Prometheus address, lease, watched namespaces, log level) and its RBAC grants the
// named Slack Secret and no other. --watch-namespaces keeps the operator off other namespaces.
import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helmBinary, repoRoot } from "../../src/devcluster/versions.js";
import { apply, kubectl, type OperatorProcess, rolloutClient, startOperatorProcess, testApp } from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig, localCluster } from "./harness.js";

function helm(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(helmBinary(), args, (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? 1 : 0 }));
  });
}

describe("Helm chart", () => {
  const kc = kubeConfig();
  let ns: string;
  let other: string;
  let operator: OperatorProcess | undefined;
  const chart = path.join(repoRoot, "operator", "helm", "fledge");

  beforeAll(async () => {
    ns = await createNamespace(kc, "helm");
    other = await createNamespace(kc, "elsewhere");
  });
  afterAll(async () => {
    await operator?.kill();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, other);
  });

  it("renders with values and applies: server-side dry run, then for real", async () => {
    const rendered = await helm(
      "template",
      "fledge",
      chart,
      "-n",
      ns,
      "--include-crds",
      "--set",
      "prometheusUrl=http://prom.example:9090",
      "--set",
      "slackSecretName=slack-tokens",
      "--set",
      "watchNamespaces={shop,web}",
      "--set",
      "logLevel=debug",
      "--set",
      `prometheusSecrets[0].namespace=${ns}`,
      "--set",
      "prometheusSecrets[0].name=prometheus-auth",
    );
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(rendered.stdout).toMatch(/--prometheus-url=http:\/\/prom\.example:9090/);
    expect(rendered.stdout).toMatch(/--watch-namespaces=shop,web/);
    expect(rendered.stdout).toContain(`--slack-secret=${ns}/slack-tokens`);
    expect(rendered.stdout).toContain("--cluster-name=kubernetes");
    expect(rendered.stdout).toMatch(new RegExp(`--lease-namespace=${ns}`));
    expect(rendered.stdout).toMatch(/kind: CustomResourceDefinition/);
    const dry = await kubectl(["apply", "-n", ns, "--dry-run=server", "-f", "-"], rendered.stdout);
    expect(dry.stderr).toBe("");
    const real = await kubectl(["apply", "-n", ns, "-f", "-"], rendered.stdout);
    expect(real.code, real.stderr).toBe(0);
    expect(await helm("lint", chart)).toMatchObject({ code: 0 });
  });

  it("serves the dashboard only when asked, with the review rights it needs and no more", async () => {
    const plain = await helm("template", "fledge", chart, "-n", ns);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toMatch(/dashboard|tokenreviews|subjectaccessreviews/);
    const withDashboard = await helm("template", "fledge", chart, "-n", ns, "--set", "dashboard.enabled=true");
    expect(withDashboard.code, withDashboard.stderr).toBe(0);
    expect(withDashboard.stdout).toContain("--dashboard-port=8480");
    expect(withDashboard.stdout).toMatch(/- \{name: dashboard, port: 8480, targetPort: dashboard\}/);
    expect(withDashboard.stdout).toMatch(/resources: \["tokenreviews"\]\n\s+verbs: \["create"\]/);
    expect(withDashboard.stdout).toMatch(/resources: \["subjectaccessreviews"\]\n\s+verbs: \["create"\]/);
    const dry = await kubectl(["apply", "-n", ns, "--dry-run=server", "-f", "-"], withDashboard.stdout);
    expect(dry.stderr).toBe("");
  });

  it("grants the named Slack Secret and no other", async () => {
    const as = `--as=system:serviceaccount:${ns}:fledge-operator`;
    expect((await kubectl(["auth", "can-i", "get", "secrets/slack-tokens", "-n", ns, as])).stdout.trim()).toBe("yes");
    expect((await kubectl(["auth", "can-i", "get", "secrets/other", "-n", ns, as])).stdout.trim()).toBe("no");
    expect((await kubectl(["auth", "can-i", "list", "secrets", "-n", ns, as])).stdout.trim()).toBe("no");
  });

  it("grants get on each named Prometheus credentials Secret, in its own namespace, and nothing more", async () => {
    const as = `--as=system:serviceaccount:${ns}:fledge-operator`;
    expect((await kubectl(["auth", "can-i", "get", "secrets/prometheus-auth", "-n", ns, as])).stdout.trim()).toBe("yes");
    expect((await kubectl(["auth", "can-i", "get", "secrets/prometheus-auth", "-n", other, as])).stdout.trim()).toBe("no");
    expect((await kubectl(["auth", "can-i", "get", "secrets/another", "-n", ns, as])).stdout.trim()).toBe("no");
    expect((await kubectl(["auth", "can-i", "list", "secrets", "-n", ns, as])).stdout.trim()).toBe("no");
  });

  it("--watch-namespaces keeps the operator off Rollouts elsewhere", async () => {
    operator = await startOperatorProcess("watch-namespaces", [`--watch-namespaces=${ns}`]);
    const app = testApp("ignored", { image: "example.invalid/app:1", errorRate: 0, policy: null });
    await apply(other, app.ingress, app.rollout);
    const mine = testApp("mine", { image: "example.invalid/app:1", errorRate: 0, policy: null });
    await apply(ns, mine.ingress, mine.rollout);
    await rolloutClient(kc, ns).waitFor("mine", "reconciled", (x) => x.status?.phase !== undefined);
    expect((await rolloutClient(kc, other).get("ignored")).status).toBeUndefined();
    expect(localCluster().kubeconfig).toBeTruthy();
  });
});
