// The install bundle applies (server-side dry run, then for real) to the local cluster; the
// operator, run out of cluster with the ServiceAccount's own token (TokenRequest), completes a
// canary — so the shipped RBAC suffices — and `kubectl auth can-i` shows what it cannot do.
import { writeFileSync } from "node:fs";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { templateRevision } from "../../src/api/revision.js";
import { repoRoot } from "../../src/devcluster/versions.js";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig, localCluster } from "./harness.js";

const SA = "system:serviceaccount:fledge-system:fledge-operator";

describe("install bundle and RBAC", () => {
  const kc = kubeConfig();
  let ns: string;
  let sim: RunningSim | undefined;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    ns = await createNamespace(kc, "install");
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("kubectl apply -k operator/base passes a server-side dry run, then applies", async () => {
    const base = path.join(repoRoot, "operator", "base");
    // A server-side dry run cannot place objects in a namespace it has not really created.
    expect((await kubectl(["apply", "-f", path.join(base, "namespace.yaml")])).code).toBe(0);
    const dry = await kubectl(["apply", "-k", base, "--dry-run=server"]);
    expect(dry.stderr).toBe("");
    expect(dry.stdout).toMatch(/deployment\.apps\/fledge-operator (created|configured|unchanged) \(server dry run\)/);
    const real = await kubectl(["apply", "-k", base]);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/clusterrole\.rbac\.authorization\.k8s\.io\/fledge-operator/);
    // The Slack overlay: the base plus read access to the one Slack Secret and the flag.
    const slack = await kubectl(["apply", "-k", path.join(repoRoot, "operator", "overlays", "slack"), "--dry-run=server"]);
    expect(slack.stderr).toBe("");
    expect(slack.stdout).toMatch(
      /role\.rbac\.authorization\.k8s\.io\/fledge-operator-slack-secret (created|configured|unchanged) \(server dry run\)/,
    );
    // The Prometheus-credentials overlay: get on one named Secret in the policy's namespace.
    expect((await kubectl(["create", "namespace", "shop"])).code).toBe(0);
    try {
      const auth = await kubectl(["apply", "-k", path.join(repoRoot, "operator", "overlays", "prometheus-auth")]);
      expect(auth.code, auth.stderr).toBe(0);
      const as = `--as=${SA}`;
      expect((await kubectl(["auth", "can-i", "get", "secrets/prometheus-auth", "-n", "shop", as])).stdout.trim()).toBe("yes");
      expect((await kubectl(["auth", "can-i", "get", "secrets/other", "-n", "shop", as])).stdout.trim()).toBe("no");
      expect((await kubectl(["auth", "can-i", "list", "secrets", "-n", "shop", as])).stdout.trim()).toBe("no");
    } finally {
      await kubectl(["delete", "namespace", "shop", "--wait=false"]);
    }
  });

  it("the operator with only its ServiceAccount's token completes a canary", async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const token = await core.createNamespacedServiceAccountToken({
      name: "fledge-operator",
      namespace: "fledge-system",
      body: { spec: { expirationSeconds: 3600 } },
    });
    const admin = kc.getCurrentCluster();
    const file = path.join(repoRoot, ".fledge", "test-logs", "sa-kubeconfig");
    writeFileSync(
      file,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: { server: admin?.server, "certificate-authority-data": admin?.caData } }],
        users: [{ name: "fledge-operator", user: { token: token.status?.token } }],
        contexts: [{ name: "sa", context: { cluster: "local", user: "fledge-operator" } }],
        "current-context": "sa",
      }),
      { mode: 0o600 },
    );
    // Only this file's namespace: other files' namespaces may still be terminating, and
    // reconciling there would count errors that have nothing to do with RBAC.
    operator = await startOperatorProcess("install-sa", [
      `--watch-namespaces=${ns}`,
      `--kubeconfig=${file}`,
      "--lease-namespace=fledge-system",
      "--lease-name=fledge-operator-test",
    ]);
    await apply(ns, testPolicy());
    sim = await startNamespaceSim(kc, ns);
    const ro = rolloutClient(kc, ns);
    const app = testApp("rbac", { image: "example.invalid/app:1", errorRate: 0 });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("rbac", "Ready", (x) => condition(x, "Ready")?.status === "True");
    const v2 = testApp("rbac", { image: "example.invalid/app:2", errorRate: 0 }).rollout.spec.template;
    await ro.patchSpec("rbac", { template: v2 });
    const r = await ro.waitFor(
      "rbac",
      "promoted",
      (x) => x.status?.phase === "Healthy" && x.status.stableRevision === templateRevision(v2),
    );
    expect(condition(r, "Ready")?.status).toBe("True");
    expect(await ro.eventsWith("rbac", "Promoted")).toContain("Promoted");
    expect(await operator.metric("controller_runtime_reconcile_errors_total")).toBe(0);
    expect(localCluster().kubeconfig).not.toBe(file);
  });

  it.each([
    ["get", "secrets", "", "no"],
    ["list", "secrets", "--all-namespaces", "no"],
    ["get", "secrets", "fledge-system", "no"],
    ["delete", "deployments", "", "no"],
    ["delete", "namespaces", "", "no"],
    ["get", "pods", "", "no"],
    ["update", "leases", "default", "no"],
    ["update", "leases", "fledge-system", "yes"],
    ["patch", "deployments", "", "yes"],
    ["update", "rollouts.fledge.dev --subresource=status", "", "yes"],
    ["delete", "rollouts.fledge.dev", "", "no"],
    ["create", "ingresses.networking.k8s.io", "", "yes"],
    ["delete", "ingresses.networking.k8s.io", "", "no"],
  ])("kubectl auth can-i %s %s (%s) as the operator: %s", async (verb, resource, where, expected) => {
    const scope = where === "--all-namespaces" ? ["--all-namespaces"] : ["-n", where || ns];
    const res = await kubectl(["auth", "can-i", verb, ...resource.split(" "), ...scope, `--as=${SA}`]);
    expect(res.stdout.trim()).toBe(expected);
  });
});
