import { describe, expect, it } from "vitest";
import { parse } from "yaml";
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
