// The header preview route on the NGINX router, against the real API server: the step sets
// ingress-nginx's canary-by-header annotations on the canary Ingress before any weight, an
// operator SIGKILLed and restarted keeps them (they live in the Ingress and in status), and
// promotion removes them. (fledge sim routes by weight only: that the proxy honours the header
// is shown once the real data plane lands, issue 12.)
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSim } from "../../src/sim/sim.js";
import {
  apply,
  fledge,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startNamespaceSim,
  startOperatorProcess,
  testApp,
  testPolicy,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("setHeaderRoute with the NGINX router", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess;
  let sim: RunningSim;
  const networking = kc.makeApiClient(k8s.NetworkingV1Api);
  const annotations = async () =>
    (await networking.readNamespacedIngress({ name: "preview-canary", namespace: ns })).metadata?.annotations ?? {};

  beforeAll(async () => {
    ns = await createNamespace(kc, "preview");
    await apply(ns, testPolicy());
    operator = await startOperatorProcess("preview", [`--watch-namespaces=${ns}`]);
    sim = await startNamespaceSim(kc, ns);
  });
  afterAll(async () => {
    await sim?.stop();
    await operator?.kill();
    await deleteNamespace(kc, ns);
  });

  it("sets the preview route before any weight, keeps it across a SIGKILL, and removes it at promotion", async () => {
    const ro = rolloutClient(kc, ns);
    const steps = [
      { setHeaderRoute: { name: "pr-7", match: [{ header: "x-preview", value: "pr-7" }] } },
      { pause: {} },
      { setWeight: 20 },
      { pause: { duration: "4s" } },
    ];
    const v1 = testApp("preview", { image: "example.invalid/app:1", errorRate: 0, steps });
    await apply(ns, v1.ingress, v1.rollout);
    await ro.waitFor("preview", "promoted v1", isPromoted);
    await ro.patchSpec("preview", { template: testApp("preview", { image: "example.invalid/app:2", errorRate: 0 }).rollout.spec.template });
    const paused = await ro.waitFor(
      "preview",
      "paused with the preview route",
      (x) => x.status?.phase === "Paused" && x.status.currentStep === 1,
    );
    expect(paused.status?.headerRoute?.name).toBe("pr-7");
    expect(await annotations()).toMatchObject({
      "nginx.ingress.kubernetes.io/canary-by-header": "x-preview",
      "nginx.ingress.kubernetes.io/canary-by-header-value": "pr-7",
      "nginx.ingress.kubernetes.io/canary-weight": "0",
    });
    expect((await fledge("status", "preview", "-n", ns)).stdout).toMatch(
      /preview route pr-7: requests with x-preview: pr-7 go to the canary/,
    );

    await operator.kill("SIGKILL");
    operator = await startOperatorProcess("preview-2", [`--watch-namespaces=${ns}`]);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await annotations())["nginx.ingress.kubernetes.io/canary-by-header"]).toBe("x-preview");

    expect((await fledge("promote", "preview", "-n", ns)).code).toBe(0);
    const done = await ro.waitFor("preview", "promoted v2", isPromoted);
    expect(done.status?.headerRoute).toBeUndefined();
    await eventually("the preview annotations gone", async () => {
      const a = await annotations();
      return a["nginx.ingress.kubernetes.io/canary-by-header"] === undefined && a["fledge.dev/header-route"] === undefined
        ? true
        : undefined;
    });
  });
});
