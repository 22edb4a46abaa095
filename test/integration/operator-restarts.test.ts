// The operator can be killed at any instant; the next one finishes the job from what is in the
// cluster, with the same outcome and no stuck or duplicated state. And an idle Healthy Rollout
// costs no API writes.
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  condition,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("operator restarts", () => {
  const kc = kubeConfig();
  let ns: string;
  let sim: RunningSim;
  let operator: OperatorProcess | undefined;
  let ro: ReturnType<typeof rolloutClient>;
  const image = (tag: string) => `example.invalid/app:${tag}`;
  const steps = [{ setWeight: 20 }, { pause: { duration: "3s" } }, { setWeight: 50 }, { pause: { duration: "3s" } }];

  beforeAll(async () => {
    ns = await createNamespace(kc, "restarts");
    ro = rolloutClient(kc, ns);
    await apply(ns, testPolicy());
    sim = await startNamespaceSim(kc, ns);
  });
  afterEach(async () => {
    await operator?.kill();
    operator = undefined;
  });
  afterAll(async () => {
    await sim?.stop();
    await deleteNamespace(kc, ns);
  });

  /** SIGKILLs the running operator as soon as `when` holds, then starts a fresh one. */
  async function killWhen(what: string, when: () => Promise<boolean>): Promise<void> {
    await eventually(what, async () => ((await when()) ? true : undefined), 60_000, 40);
    await operator?.kill("SIGKILL");
    operator = await startOperatorProcess("restarts", [`--watch-namespaces=${ns}`]);
  }

  it("SIGKILL during a weight change and mid-promotion: a good canary still ends promoted, once", async () => {
    operator = await startOperatorProcess("restarts", [`--watch-namespaces=${ns}`]);
    const app = testApp("kill", { image: image("1"), errorRate: 0, steps });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("kill", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.patchSpec("kill", { template: testApp("kill", { image: image("2"), errorRate: 0 }).rollout.spec.template });
    await killWhen("weight 20 on the canary", async () => (await ro.weight("kill")) === 20);
    await killWhen("weight 50 on the canary", async () => (await ro.weight("kill")) === 50);
    // Promoting lasts only as long as the stable Deployment takes to roll out (kwok: moments), so
    // it is caught from the watch, which delivers every status written, not by polling.
    const promoting = new Promise<void>((resolve) => {
      const stop = new k8s.Watch(kc).watch(
        `/apis/fledge.dev/v1alpha1/namespaces/${ns}/rollouts`,
        { fieldSelector: "metadata.name=kill" },
        (_type, r: { status?: { phase?: string } }) => {
          if (r.status?.phase !== "Promoting") return;
          void stop.then((w) => w.abort());
          resolve();
        },
        () => {},
      );
    });
    await killWhen("promotion under way", async () => await Promise.race([promoting.then(() => true), sleep(40).then(() => false)]));
    const r = await ro.waitFor("kill", "promoted", isPromoted);
    expect(await ro.weight("kill")).toBe(0);
    expect((await ro.deployment("kill-stable")).spec?.template.spec?.containers[0]?.image).toBe(image("2"));
    await eventually("canary at 0 replicas", async () => ((await ro.deployment("kill-canary")).spec?.replicas === 0 ? true : undefined));
    const events = await ro.eventsWith("kill", "CanaryStarted", "Promoted");
    expect(events.filter((e) => e === "CanaryStarted")).toHaveLength(1);
    expect(events.filter((e) => e === "Promoted")).toHaveLength(1);
    expect(condition(r, "Ready")?.status).toBe("True");
  });

  it("SIGKILL mid-analysis of a bad canary: the next operator rolls it back", async () => {
    operator = await startOperatorProcess("restarts", [`--watch-namespaces=${ns}`]);
    await ro.patchSpec("kill", { template: testApp("kill", { image: image("3"), errorRate: 0.3 }).rollout.spec.template });
    await killWhen("the canary analysed", async () => ((await ro.get("kill")).status?.analysis?.lastSampleAt ?? "") !== "");
    const r = await ro.waitFor("kill", "rolled back", (x) => x.status?.phase === "Degraded");
    expect(condition(r, "Ready")?.reason).toBe("AnalysisFailed");
    expect(await ro.weight("kill")).toBe(0);
    expect((await ro.deployment("kill-stable")).spec?.template.spec?.containers[0]?.image).toBe(image("2"));
    expect((await ro.eventsWith("kill", "RolledBack")).filter((e) => e === "RolledBack")).toHaveLength(1);
    // The rollback ends with the canary scaled down, scaleDownDelaySeconds after its weight went to 0.
    await eventually("canary at 0 replicas", async () => ((await ro.deployment("kill-canary")).spec?.replicas === 0 ? true : undefined));
  });

  it("an idle Healthy Rollout causes no API writes, across resyncs", async () => {
    // Only this namespace: earlier files' namespaces may still be terminating around us.
    operator = await startOperatorProcess("idle", ["--resync=1", `--watch-namespaces=${ns}`]);
    const app = testApp("calm", { image: image("1"), errorRate: 0, steps });
    await apply(ns, app.ingress, app.rollout);
    await ro.waitFor("calm", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await sleep(3000); // let the last writes (status, Events) settle
    const writesBefore = await operator.metric("fledge_kube_writes_total");
    const reconcilesBefore = await operator.metric("controller_runtime_reconcile_total");
    await sleep(6000);
    const reconciles = (await operator.metric("controller_runtime_reconcile_total")) - reconcilesBefore;
    expect(reconciles, "resyncs should have reconciled the idle Rollouts").toBeGreaterThanOrEqual(4);
    const writes = (await (await fetch(`http://127.0.0.1:${operator.port}/metrics`)).text())
      .split("\n")
      .filter((l) => l.startsWith("fledge_kube_writes_total"));
    expect((await operator.metric("fledge_kube_writes_total")) - writesBefore, `writes by kind: ${writes.join("; ")}`).toBe(0);
  });
});
