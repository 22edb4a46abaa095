// Approval steps without Slack: the gate opens with an Event and a condition, `fledge approve`
// moves on and records who, `kubectl annotate … approve/<who>` works too, `fledge reject` rolls
// back naming who, and a command with no gate pending is refused with a clear message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  kubectl,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, kubeConfig } from "./harness.js";

describe("approval steps (CLI and kubectl)", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  let ro: ReturnType<typeof rolloutClient>;
  const steps = [
    { setWeight: 20 },
    { approval: { approvers: ["U012AB3CD"], timeout: "10m", onTimeout: "Abort" } },
    { setWeight: 50 },
    { approval: { timeout: "10m" } },
  ];
  const template = (tag: string) => testApp("gate", { image: `example.invalid/app:${tag}`, errorRate: 0 }).rollout.spec.template;

  beforeAll(async () => {
    ns = await createNamespace(kc, "approvals");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("approvals", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
    const app = testApp("gate", { image: "example.invalid/app:1", errorRate: 0, steps });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("gate", "Ready", (x) => condition(x, "Ready")?.status === "True");
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("a command with no gate pending is refused and changes nothing", async () => {
    const res = await fledge("approve", "gate", "-n", ns);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`Rollout ${ns}/gate is not waiting for an approval`));
  });

  it("fledge approve passes the first gate; kubectl annotate approve/<who> the second; the canary is promoted", async () => {
    await ro.patchSpec("gate", { template: template("2") });
    const pending = await ro.waitFor(
      "gate",
      "the first gate",
      (x) => condition(x, "ApprovalPending")?.status === "True" && x.status?.currentStep === 1,
    );
    expect(pending.status?.approval?.token).toMatch(/^[0-9a-f]{32}$/);
    expect(condition(pending, "Ready")?.reason).toBe("AwaitingApproval");
    expect(await ro.eventsWith("gate", "ApprovalRequested")).toContain("ApprovalRequested");
    const status = await fledge("status", "gate", "-n", ns);
    expect(status.stdout).toMatch(/approval pending at step 2/);
    const approved = await fledge("approve", "gate", "-n", ns, "--as", "alice");
    expect(approved.stdout).toMatch(/approve applied for Rollout .*\/gate: approved at step 2 by alice/);
    await ro.waitFor("gate", "the second gate", (x) => x.status?.currentStep === 3 && condition(x, "ApprovalPending")?.status === "True");
    expect(await ro.weight("gate")).toBe(50);
    const res = await kubectl(["annotate", "rollout", "gate", "-n", ns, "fledge.dev/action=approve/bob/k1", "--overwrite"]);
    expect(res.code).toBe(0);
    const r = await ro.waitFor("gate", "promoted", isPromoted);
    expect(r.status?.approval).toMatchObject({ decision: "Approved", decidedBy: "bob" });
    expect((await ro.events("gate")).filter((e) => e === "Approved")).toHaveLength(2);
  });

  it("fledge reject rolls back with the rejecting user in the reason", async () => {
    await ro.patchSpec("gate", { template: template("3") });
    await ro.waitFor(
      "gate",
      "the first gate",
      (x) => condition(x, "ApprovalPending")?.status === "True" && x.status?.currentRevision === x.status?.canaryRevision,
    );
    await fledge("reject", "gate", "-n", ns, "--as", "carol");
    const r = await ro.waitFor("gate", "rolled back", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")?.reason).toBe("Rejected");
    expect(condition(r, "Ready")?.message).toMatch(/rejected by carol/);
    expect(await ro.weight("gate")).toBe(0);
  });
});
