// The fledge CLI (the compiled binary, as users run it) and the plain-kubectl way to act on a
// Rollout: promote, abort (annotation), retry, status, get, and a clear error for a wrong name.
import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../src/devcluster/versions.js";
import type { RunningSim } from "../../src/sim/sim.js";
import { PEER_CONFIGS } from "../../src/simulate/peer-models.js";
import {
  apply,
  condition,
  fledge,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig, localCluster } from "./harness.js";

describe("fledge CLI and kubectl actions", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let ro: ReturnType<typeof rolloutClient>;
  const image = (tag: string) => `example.invalid/app:${tag}`;

  beforeAll(async () => {
    ns = await createNamespace(kc, "cli");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("cli", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
    const app = testApp("api", {
      image: image("1"),
      errorRate: 0,
      steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }, { pause: {} }],
    });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("api", "Ready", (x) => condition(x, "Ready")?.status === "True");
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("fledge promote ends a pause; fledge status shows the step marked, the weight and the analysis", async () => {
    await ro.patchSpec("api", { template: testApp("api", { image: image("2"), errorRate: 0 }).rollout.spec.template });
    await ro.waitFor("api", "paused at step 2", (x) => x.status?.phase === "Paused" && x.status.currentStep === 1);
    const status = await fledge("status", "api", "-n", ns);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/Rollout .*\/api\s+Paused/);
    expect(status.stdout).toMatch(/✓ 1\. setWeight 20/);
    expect(status.stdout).toMatch(/▶ 2\. pause \(until promoted\)/);
    expect(status.stdout).toMatch(/canary\s+\w+\s+\[#+\.+\] 20 %/);
    const promoted = await fledge("promote", "api", "-n", ns);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toMatch(/promote (applied|accepted) for Rollout .*\/api/);
    await ro.waitFor("api", "paused at step 4", (x) => x.status?.phase === "Paused" && x.status.currentStep === 3);
    expect(await ro.weight("api")).toBe(50);
  });

  it("kubectl annotate …fledge.dev/action=abort rolls back; fledge retry runs the revision again", async () => {
    const revision = (await ro.get("api")).status?.canaryRevision;
    const res = await kubectl(["annotate", "rollout", "api", "-n", ns, "fledge.dev/action=abort", "--overwrite"]);
    expect(res.code).toBe(0);
    const aborted = await ro.waitFor("api", "aborted", (x) => x.status?.phase === "Degraded");
    expect(condition(aborted, "Ready")?.reason).toBe("Aborted");
    const table = await fledge("get", "-n", ns);
    expect(table.stdout).toMatch(/api\s+Degraded\s+False/);
    const retry = await fledge("retry", "api", "-n", ns);
    expect(retry.code).toBe(0);
    await ro.waitFor("api", "running again", (x) => x.status?.canaryRevision === revision && x.status?.phase === "Paused");
    const full = await fledge("promote", "api", "--full", "-n", ns);
    expect(full.code).toBe(0);
    await ro.waitFor("api", "promoted", (x) => x.status?.phase === "Healthy" && x.status.stableRevision === revision);
  });

  it("fledge wait: 0 when healthy, 2 when it ended the other way, 3 on timeout", async () => {
    expect((await fledge("wait", "api", "--for", "healthy", "--timeout", "60s", "-n", ns)).code).toBe(0);
    const other = await fledge("wait", "api", "--for", "degraded", "--timeout", "60s", "-n", ns);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/ended healthy/);
    await ro.patchSpec("api", { template: testApp("api", { image: image("5"), errorRate: 0 }).rollout.spec.template });
    await ro.waitFor("api", "paused", (x) => x.status?.phase === "Paused");
    const timedOut = await fledge("wait", "api", "--for", "healthy", "--timeout", "2s", "-n", ns);
    expect(timedOut.code).toBe(3);
    expect(timedOut.stderr).toMatch(new RegExp(`Rollout ${ns}/api was not healthy after 2s \\(phase Paused`));
    await fledge("abort", "api", "-n", ns);
    expect((await fledge("wait", "api", "--for", "degraded", "--timeout", "60s", "-n", ns)).code).toBe(0);
  });

  it("works as a kubectl plugin, and says its version", async () => {
    const res = await new Promise<{ stdout: string; code: number }>((resolve) => {
      execFile(
        localCluster().kubectl,
        ["fledge", "version"],
        { env: { ...process.env, PATH: `${path.join(repoRoot, "bin")}:${path.dirname(process.execPath)}:${process.env.PATH}` } },
        (err, stdout) => resolve({ stdout, code: err ? 1 : 0 }),
      );
    });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^fledge \d+\.\d+\.\d+ \(API fledge\.dev\/v1alpha1/);
  });

  it("fledge simulate prints the tables for a policy file, deterministic for a seed", async () => {
    const policyFile = path.join(repoRoot, "policies", "sequential-error-rate.yaml");
    const args = ["simulate", "--policy", policyFile, "--canary-error-rate", "0.005,0.05", "--runs", "300", "--seed", "7", "--compare"];
    const first = await fledge(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/## canary 0\.50 % vs stable 0\.50 % \(1\.0×\)/);
    expect(first.stdout).toMatch(/\| sequential-error-rate \| 300 \| [\d.]+ % \| [\d.]+ % – [\d.]+ % \|/);
    // The 10× table's rows for the models of the real peers: Flagger's docs' settings roll back on
    // the sixth 1-minute tick; Argo's docs' settings promote the 10× canary.
    const tenfold = first.stdout.slice(first.stdout.indexOf("## canary 5.00 %"));
    const row = (label: string) => tenfold.split("\n").find((l) => l.startsWith(`| ${label} | 300 |`)) ?? "";
    expect(row(PEER_CONFIGS["flagger-docs"].label)).toContain("| 100.0 % |");
    expect(row(PEER_CONFIGS["flagger-docs"].label)).toContain("| 360.0 / 360.0 / 360.0 |");
    expect(row(PEER_CONFIGS["argo-docs"].label)).toContain("| 0.0 % |");
    const again = await fledge(...args);
    const tables = (text: string) => text.replace(/\(300 runs per rule, seed 7, [\d.]+ s\)/g, "");
    expect(tables(again.stdout)).toBe(tables(first.stdout));
    const bad = await fledge("simulate", "--policy", path.join(repoRoot, "README.md"));
    expect(bad.code).toBe(1);
  });

  it("a wrong name gives an error that names the rollout and the namespace, and exit code 1", async () => {
    const res = await fledge("promote", "nope", "-n", ns);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`Rollout nope not found in namespace ${ns}`));
  });
});
