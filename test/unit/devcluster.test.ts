import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { waitForCrdsEstablished } from "../../src/devcluster/cluster.js";
import { prometheusArgs, prometheusConfig } from "../../src/devcluster/prometheus.js";
import { parseVersionsEnv, pinnedVersions } from "../../src/devcluster/versions.js";

describe("pinned versions", () => {
  it("reads every version from scripts/versions.env", () => {
    const v = pinnedVersions();
    expect(v.kubernetes).toMatch(/^v1\.\d+\.\d+$/);
    expect(v.etcd).toMatch(/^v3\.6\.\d+$/);
    expect(v.kwok).toBe("v0.8.0");
    expect(Number(v.node.split(".")[0])).toBeGreaterThanOrEqual(22);
  });

  it("names the missing line when a version is absent", () => {
    expect(() => parseVersionsEnv("KUBERNETES_VERSION=v1.36.3\n")).toThrow(/ETCD_VERSION/);
    expect(() => parseVersionsEnv("KUBERNETES_VERSION=a\nETCD_VERSION=b\nKWOK_VERSION=c\nNODE_VERSION=24\n")).toThrow(/HELM_VERSION/);
  });
});

describe("Prometheus configuration", () => {
  it("scrapes every second from the file-SD folder", () => {
    const config = parse(prometheusConfig("/tmp/targets"));
    expect(config.global.scrape_interval).toBe("1s");
    expect(config.scrape_configs[0].file_sd_configs[0].files).toEqual(["/tmp/targets/*.json"]);
  });

  it("listens on loopback only", () => {
    expect(prometheusArgs({ configFile: "c", dataDir: "d", port: 9999 })).toContain("--web.listen-address=127.0.0.1:9999");
  });
});

describe("waiting for CRDs", () => {
  /** A stand-in kubectl (a shell script) that answers `wait` as the real one does on a CRD created
   * a moment ago, `failures` times, then as on an Established one; it logs each call's arguments. */
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const fakeKubectl = (failures: number, error: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), "fledge-kubectl-"));
    dirs.push(dir);
    const calls = path.join(dir, "calls");
    const script = path.join(dir, "kubectl");
    writeFileSync(
      script,
      `#!/bin/sh\necho "$*" >> ${calls}\nif [ $(wc -l < ${calls}) -le ${failures} ]; then echo '${error}' >&2; exit 1; fi\necho ok\n`,
    );
    chmodSync(script, 0o755);
    return { kubectl: script, calls: () => readFileSync(calls, "utf8").trim().split("\n") };
  };
  const accessorError = "error: .status.conditions accessor error: <nil> is of the type <nil>, expected []interface{}";

  it("waits out kubectl's answer for a CRD whose conditions are not there yet", async () => {
    const fake = fakeKubectl(2, accessorError);
    await waitForCrdsEstablished({ kubectl: fake.kubectl, kubeconfig: "/dev/null" }, ["crd/rollouts.fledge.dev"], 10_000);
    expect(fake.calls()).toHaveLength(3);
    expect(fake.calls()[2]).toMatch(/--kubeconfig=\/dev\/null wait --for=condition=Established --timeout=\d+s crd\/rollouts\.fledge\.dev/);
  });

  it("fails at once on any other error", async () => {
    const fake = fakeKubectl(5, 'Error from server (NotFound): customresourcedefinitions "x" not found');
    await expect(waitForCrdsEstablished({ kubectl: fake.kubectl, kubeconfig: "/dev/null" }, ["crd/x"], 10_000)).rejects.toThrow(/NotFound/);
    expect(fake.calls()).toHaveLength(1);
  });
});
