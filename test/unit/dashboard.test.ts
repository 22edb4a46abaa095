// The Grafana dashboard only charts metrics the operator really exports.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../src/devcluster/versions.js";
import { createMetrics } from "../../src/observability/metrics.js";

describe("operator/grafana-dashboard.json", () => {
  it("every metric it queries is one the operator exports", async () => {
    const dashboard = JSON.parse(readFileSync(path.join(repoRoot, "operator", "grafana-dashboard.json"), "utf8"));
    const exported = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const queried = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        for (const name of String(target.expr).match(/\b(fledge_[a-z_]+|controller_runtime_[a-z_]+|workqueue_[a-z_]+)/g) ?? []) {
          queried.add(name.replace(/_(bucket|sum|count)$/, ""));
        }
      }
    }
    expect(queried.size).toBeGreaterThan(5);
    for (const name of queried) expect(exported, `${name} is not exported`).toContain(name);
  });
});
