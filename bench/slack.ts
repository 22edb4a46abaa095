// make bench-slack: how fast a Slack approval goes, on the local cluster with the operator as a
// process and the loopback Slack Web API: gate opened → approval message posted; a signed click
// → acknowledged, → decision in status, → the next step's weight on the Ingress, → the message
// updated with the outcome. RUNS gates in a row on one Rollout (no analysis policy, so only the
// gate is timed). Figures go to docs/benchmarks.md.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import { GROUP, type Rollout, VERSION } from "../src/api/types.js";
import { installFledgeCrds, startCluster, stopCluster } from "../src/devcluster/cluster.js";
import { freePort } from "../src/devcluster/ports.js";
import { repoRoot } from "../src/devcluster/versions.js";
import { quantile } from "../src/simulate/stats.js";
import { blockActionsPayload, postInteraction, signInteraction } from "../src/slack-loopback/click-simulator.js";
import { startFakeSlack } from "../src/slack-loopback/fake-slack.js";
import { writeSection } from "./markdown-section.js";

const RUNS = Number(process.env.RUNS ?? 20);
const NS = "bench-slack";
const CHANNEL = "C0BENCH";

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "fledge-bench-slack-"));
  const started = Date.now();
  const cluster = await startCluster({ dir, log: (l) => process.stderr.write(`[cluster] ${l}\n`) });
  const slack = await startFakeSlack();
  let operator: ReturnType<typeof spawn> | undefined;
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      operator?.kill("SIGKILL");
      void stopCluster(dir).finally(() => process.exit(130));
    });
  try {
    await installFledgeCrds(cluster);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const networking = kc.makeApiClient(k8s.NetworkingV1Api);
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    const signingSecret = randomBytes(16).toString("hex");
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: "fledge-slack" }, stringData: { "bot-token": "xoxb-bench", "signing-secret": signingSecret } },
    });
    const port = await freePort();
    operator = spawn(
      process.execPath,
      [
        path.join(repoRoot, "bin", "fledge.js"),
        "operator",
        `--kubeconfig=${cluster.kubeconfig}`,
        `--port=${port}`,
        "--bind=127.0.0.1",
        "--log-level=warn",
        "--no-leader-elect",
        `--slack-secret=${NS}/fledge-slack`,
        `--slack-api-url=${slack.url}`,
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    const template = (tag: string) => ({
      metadata: { labels: { app: "web", tag } },
      spec: { containers: [{ name: "app", image: `example.invalid/web:${tag}` }] },
    });
    await objects.create({
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "web", namespace: NS },
      spec: {
        rules: [
          {
            host: "web.example.com",
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 80 } } } }] },
          },
        ],
      },
    } as k8s.KubernetesObject);
    await objects.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "Rollout",
      metadata: { name: "web", namespace: NS },
      spec: {
        replicas: 2,
        template: template("0"),
        service: { port: 80 },
        traffic: { nginx: { ingress: "web" } },
        strategy: {
          canary: { steps: [{ setWeight: 10 }, { approval: { slack: { channel: CHANNEL }, approvers: ["U0BENCH"] } }, { setWeight: 50 }] },
        },
      },
    } as k8s.KubernetesObject);
    const get = async () =>
      (await custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: "rollouts",
        name: "web",
      })) as Rollout;
    const weight = async () =>
      Number(
        (await networking.readNamespacedIngress({ name: "web-canary", namespace: NS })).metadata?.annotations?.[
          "nginx.ingress.kubernetes.io/canary-weight"
        ],
      );
    const healthyAt = (tag: string) => async () => {
      const r = await get();
      const current = r.spec.template?.spec?.containers[0]?.image === `example.invalid/web:${tag}`;
      return current && r.status?.phase === "Healthy" && r.status.stableRevision === r.status.currentRevision ? r : undefined;
    };
    await until("v0 Healthy", healthyAt("0"), 120_000);

    const rows: Record<string, number[]> = { post: [], ack: [], recorded: [], nextWeight: [], updated: [] };
    for (let run = 1; run <= RUNS; run++) {
      const tag = String(run);
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: NS, plural: "rollouts", name: "web", body: { spec: { template: template(tag) } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
      const gate = await until("the gate's message", async () => {
        const r = await get();
        const g = r.status?.approval;
        return g?.slack && g.decision === undefined && r.status?.currentStep === 1 ? g : undefined;
      });
      const posted = slack.calls.find((c) => c.method === "chat.postMessage" && JSON.stringify(c.body.blocks ?? "").includes(gate.token));
      const message = slack.messages.get(gate.slack?.ts ?? "");
      if (!posted || !message) throw new Error("the message in status was not seen by the loopback Slack");
      rows.post?.push(posted.at - Date.parse(gate.requestedAt));
      const request = signInteraction(
        blockActionsPayload({ user: { id: "U0BENCH", username: "bench" }, verdict: "approve", message }),
        signingSecret,
      );
      const clickedAt = Date.now();
      const status = await postInteraction(`http://127.0.0.1:${port}/slack/interactions`, request);
      if (status !== 200) throw new Error(`click answered ${status}`);
      rows.ack?.push(Date.now() - clickedAt);
      await until("the decision in status", async () => ((await get()).status?.approval?.decision === "Approved" ? true : undefined));
      rows.recorded?.push(Date.now() - clickedAt);
      await until("weight 50", async () => ((await weight()) === 50 ? true : undefined));
      rows.nextWeight?.push(Date.now() - clickedAt);
      const update = await until("the message update", async () =>
        slack.calls.find((c) => c.method === "chat.update" && c.body.ts === gate.slack?.ts),
      );
      rows.updated?.push(update.at - clickedAt);
      await until(`v${tag} Healthy`, healthyAt(tag), 120_000);
      process.stderr.write(
        `run ${run}: ${Object.entries(rows)
          .map(([k, v]) => `${k} ${v.at(-1)} ms`)
          .join(", ")}\n`,
      );
    }
    const names: Record<string, string> = {
      post: "gate opened → approval message posted",
      ack: "click → HTTP 200 (acknowledged)",
      recorded: "click → decision in the Rollout's status",
      nextWeight: "click → next step's weight on the canary Ingress",
      updated: "click → message updated with the outcome",
    };
    const lines = ["| | median (ms) | p95 (ms) | max (ms) |", "|---|---|---|---|"];
    for (const [key, values] of Object.entries(rows)) {
      const sorted = [...values].sort((a, b) => a - b);
      lines.push(
        `| ${names[key]} | ${quantile(sorted, 0.5).toFixed(0)} | ${quantile(sorted, 0.95).toFixed(0)} | ${sorted.at(-1)?.toFixed(0)} |`,
      );
    }
    const table = lines.join("\n");
    process.stdout.write(`${table}\n`);
    const body = `## Slack approvals (local cluster)\n\nMeasured with \`make bench-slack\` (${((Date.now() - started) / 1000).toFixed(0)} s): the operator as a process against the local control plane and the loopback Slack Web API, ${RUNS} approval gates in a row on one Rollout (setWeight 10 → approval → setWeight 50, no analysis), each approved by a signed click posted to \`/slack/interactions\`. Times are wall clock on this machine, polled every 10 ms.\n\n${table}\n`;
    process.stdout.write(`written to ${writeSection("bench-slack", body)}\n`);
  } finally {
    operator?.kill("SIGTERM");
    await slack.close();
    await stopCluster(dir);
  }
}

main().catch((err) => {
  process.stderr.write(`bench-slack failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
