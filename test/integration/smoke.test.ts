// The foundation works: a Deployment becomes Available on the local cluster (controller-manager,
// scheduler and kwok all play their part) and the real Prometheus answers queries.
import * as k8s from "@kubernetes/client-node";
import axios from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pinnedVersions, prometheusRelease } from "../../src/devcluster/versions.js";
import { createNamespace, deleteNamespace, eventually, kubeConfig, localCluster } from "./harness.js";

describe("local cluster", () => {
  const kc = kubeConfig();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createNamespace(kc, "smoke");
  });
  afterAll(async () => {
    await deleteNamespace(kc, namespace);
  });

  it("has a Ready node without taints", async () => {
    const nodes = await kc.makeApiClient(k8s.CoreV1Api).listNode();
    expect(nodes.items.length).toBeGreaterThanOrEqual(1);
    const node = nodes.items[0];
    expect(node?.spec?.taints ?? []).toEqual([]);
    expect(node?.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("brings a 3-replica Deployment to 3 ready replicas", async () => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "web", image: "example.invalid/web:1" }] },
          },
        },
      },
    });
    const ready = await eventually("3 ready replicas", async () => {
      const d = await apps.readNamespacedDeployment({ name: "web", namespace });
      return d.status?.readyReplicas === 3 ? d : undefined;
    });
    expect(ready.status?.conditions?.find((c) => c.type === "Available")?.status).toBe("True");
  });

  it("answers a Prometheus instant query for up", async () => {
    const { prometheusUrl } = localCluster();
    // Prometheus scrapes itself only if told to: add it as a file-SD target, like fledge sim does.
    const { addScrapeTarget } = await import("../../src/devcluster/prometheus.js");
    await addScrapeTarget(localCluster().prometheusTargetsDir, "prometheus-self", new URL(prometheusUrl).host);
    const instance = new URL(prometheusUrl).host;
    // Only this target: other test files' sims come and go in the same target folder.
    const series = await eventually("an up sample for Prometheus itself", async () => {
      const res = await axios.get(`${prometheusUrl}/api/v1/query`, { params: { query: `up{job="fledge",instance="${instance}"}` } });
      const result = res.data?.data?.result as Array<{ value: [number, string] }> | undefined;
      return result && result.length > 0 ? result : undefined;
    });
    expect(series[0]?.value[1]).toBe("1");
  });

  it("is the pinned Prometheus 3 built from Go modules, not a system package", async () => {
    const { prometheusUrl, versions } = localCluster();
    const info = await axios.get(`${prometheusUrl}/api/v1/status/buildinfo`);
    expect(info.data?.data?.version).toBe(prometheusRelease(pinnedVersions().prometheus));
    expect(info.data?.data?.version).toMatch(/^3\./);
    expect(versions.prometheus).toBe(info.data?.data?.version);
  });
});
