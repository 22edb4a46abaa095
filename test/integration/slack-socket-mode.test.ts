// Slack for clusters without public ingress: the operator connects out over Socket Mode (a
// WebSocket URL from apps.connections.open with the app-level token), acknowledges each
// envelope, and runs the same gate logic on its payload. Before the Secret exists, Slack is
// off with a clear log line and Warning, gates stay pending and the CLI decides them.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockActionsPayload } from "../../src/slack-loopback/click-simulator.js";
import { type FakeSlack, startFakeSlack } from "../../src/slack-loopback/fake-slack.js";
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

describe("Slack approval gates over Socket Mode", () => {
  const kc = kubeConfig();
  let ns: string;
  let slack: FakeSlack;
  let operator: OperatorProcess | undefined;
  let ro: ReturnType<typeof rolloutClient>;
  const steps = [{ setWeight: 20 }, { approval: { slack: { channel: "C0SOCKET" }, approvers: ["U0ALICE"] } }, { setWeight: 60 }];
  const app = testApp("orders", { image: "example.invalid/app:1", errorRate: 0, steps, policy: null });
  const release = (tag: string) =>
    ro.patchSpec("orders", { template: { ...app.rollout.spec.template, metadata: { labels: { app: "orders", tag } } } });
  const promoted = isPromoted;
  const start = async (label: string) =>
    startOperatorProcess(label, [
      `--slack-secret=${ns}/fledge-slack`,
      `--slack-api-url=${slack.url}`,
      "--slack-socket-mode",
      `--watch-namespaces=${ns}`,
    ]);

  beforeAll(async () => {
    ns = await createNamespace(kc, "socket");
    ro = rolloutClient(kc, ns);
    slack = await startFakeSlack();
    await apply(ns, app.ingress, app.rollout);
  });
  afterAll(async () => {
    await operator?.kill();
    await slack?.close();
    await deleteNamespace(kc, ns);
  });

  it("without the Secret: a clear log line and a Warning; the gate stays pending and the CLI decides it", async () => {
    operator = await start("socket-nosecret");
    await ro.waitFor("orders", "Ready", (x) => condition(x, "Ready")?.status === "True");
    await release("2");
    await ro.waitFor("orders", "the gate", (x) => condition(x, "ApprovalPending")?.status === "True");
    await eventually(
      "a SlackUnavailable Warning",
      async () => ((await ro.events("orders")).includes("SlackUnavailable") ? true : undefined),
      15_000,
    );
    const { readFile } = await import("node:fs/promises");
    expect(await readFile(operator.logFile, "utf8")).toMatch(
      new RegExp(`Slack Secret ${ns}/fledge-slack not found.*kubectl -n ${ns} create secret generic fledge-slack`),
    );
    expect(slack.calls.filter((c) => c.method === "chat.postMessage")).toHaveLength(0);
    await fledge("approve", "orders", "-n", ns, "--as", "ops");
    await ro.waitFor("orders", "promoted", promoted);
    await operator.kill();
  });

  it("with the app token: connects, receives the click as an envelope, acknowledges it and approves; reconnects when Slack asks", async () => {
    await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "fledge-slack" }, stringData: { "bot-token": "xoxb-test", "app-token": "xapp-test" } },
    });
    operator = await start("socket");
    await eventually("a Socket Mode connection", async () => (slack.openSockets() === 1 ? true : undefined), 15_000);
    expect(slack.calls.find((c) => c.method === "apps.connections.open")?.authorization).toBe("Bearer xapp-test");

    for (const tag of ["3", "4"]) {
      await release(tag);
      const r = await ro.waitFor(
        "orders",
        "the gate's message",
        (x) => x.status?.approval?.slack?.ts !== undefined && x.status.approval.decision === undefined,
      );
      const message = slack.messages.get(r.status?.approval?.slack?.ts ?? "");
      if (!message) throw new Error("no message");
      const ack = await slack.sendInteractive(
        blockActionsPayload({ user: { id: "U0ALICE", username: "alice" }, verdict: "approve", message }),
      );
      expect(ack.envelope_id).toMatch(/^env-/);
      const done = await ro.waitFor("orders", "promoted", promoted);
      expect(done.status?.approval?.decidedBy).toBe("alice (U0ALICE) in Slack");
      if (tag === "3") {
        // Slack rotates connections: the operator opens a fresh one.
        const opened = slack.calls.filter((c) => c.method === "apps.connections.open").length;
        slack.disconnectSockets();
        await eventually(
          "a new connection",
          async () =>
            slack.calls.filter((c) => c.method === "apps.connections.open").length > opened && slack.openSockets() === 1 ? true : undefined,
          15_000,
        );
      }
    }
  });
});
