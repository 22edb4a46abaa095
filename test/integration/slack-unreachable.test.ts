// Slack that accepts connections and never answers (the worst kind of down): the approval
// message cannot be posted, yet nothing waits for it — another rollout is promoted meanwhile,
// the gate stays pending (never promoted by itself), and the CLI still decides it.
import http from "node:http";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  apply,
  condition,
  fledge,
  isPromoted,
  type OperatorProcess,
  rolloutClient,
  startOperatorProcess,
  testApp,
} from "./fledge-harness.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig } from "./harness.js";

describe("Slack unreachable", () => {
  const kc = kubeConfig();
  let ns: string;
  let operator: OperatorProcess | undefined;
  let ro: ReturnType<typeof rolloutClient>;
  let hanging: http.Server;
  let requests = 0;
  // Promoted as decided for the latest spec: right after a release the old status still says Healthy.
  const promoted = isPromoted;
  const gated = testApp("gated", {
    image: "example.invalid/app:1",
    errorRate: 0,
    policy: null,
    steps: [{ setWeight: 20 }, { approval: { slack: { channel: "C0DOWN" } } }, { setWeight: 50 }],
  });
  const plain = testApp("plain", {
    image: "example.invalid/app:1",
    errorRate: 0,
    policy: null,
    steps: [{ setWeight: 20 }, { setWeight: 50 }],
  });
  const release = (name: string, app: typeof gated) =>
    ro.patchSpec(name, { template: { ...app.rollout.spec.template, metadata: { labels: { app: name, tag: "2" } } } });

  beforeAll(async () => {
    ns = await createNamespace(kc, "slackdown");
    ro = rolloutClient(kc, ns);
    hanging = http.createServer(() => {
      requests += 1; // accepted, never answered
    });
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", () => resolve()));
    const address = hanging.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "fledge-slack" }, stringData: { "bot-token": "xoxb-test", "signing-secret": "s" } },
    });
    operator = await startOperatorProcess("slackdown", [
      `--slack-secret=${ns}/fledge-slack`,
      `--slack-api-url=http://127.0.0.1:${port}`,
      `--watch-namespaces=${ns}`,
    ]);
    await apply(ns, gated.ingress, gated.rollout, plain.ingress, plain.rollout);
    await ro.waitFor("gated", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await ro.waitFor("plain", "Ready", (x) => condition(x, "Ready")?.status === "True");
  });
  afterAll(async () => {
    await operator?.kill();
    hanging?.closeAllConnections();
    await new Promise((resolve) => hanging?.close(resolve));
    await deleteNamespace(kc, ns);
  });

  it("holds nothing: another rollout is promoted while the post hangs; the gate waits and the CLI decides it", async () => {
    await release("gated", gated);
    await ro.waitFor("gated", "the gate", (x) => condition(x, "ApprovalPending")?.status === "True");
    await release("plain", plain);
    await ro.waitFor("plain", "promoted while Slack hangs", promoted, 30_000);
    // The post to Slack was made (and hangs): waited for, not read from a moment before it.
    await eventually("the post to the hanging Slack", async () => (requests >= 1 ? true : undefined), 10_000);
    const gate = await ro.get("gated");
    expect(gate.status?.currentStep).toBe(1);
    expect(gate.status?.approval?.slack).toBeUndefined();
    expect(gate.status?.approval?.decision).toBeUndefined();
    await fledge("approve", "gated", "-n", ns, "--as", "oncall");
    const r = await ro.waitFor("gated", "promoted", promoted, 30_000);
    expect(r.status?.approval?.decidedBy).toBe("oncall");
  });
});
