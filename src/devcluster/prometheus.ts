// The real Prometheus server (Debian's package) for the local cluster. It scrapes every
// 1 s whatever target files are dropped in <dir>/targets: file-based service discovery
// picks new files up without a restart, which is how tests and `fledge sim` add themselves.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";

export function prometheusConfig(targetsDir: string): string {
  return stringify({
    global: { scrape_interval: "1s", scrape_timeout: "900ms", evaluation_interval: "1s" },
    scrape_configs: [
      {
        job_name: "fledge",
        file_sd_configs: [{ files: [path.join(targetsDir, "*.json")], refresh_interval: "1s" }],
      },
    ],
  });
}

export async function writePrometheusConfig(dir: string): Promise<{ configFile: string; targetsDir: string; dataDir: string }> {
  const targetsDir = path.join(dir, "targets");
  const dataDir = path.join(dir, "data");
  await mkdir(targetsDir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const configFile = path.join(dir, "prometheus.yml");
  await writeFile(configFile, prometheusConfig(targetsDir));
  return { configFile, targetsDir, dataDir };
}

export function prometheusArgs(opts: { configFile: string; dataDir: string; port: number }): string[] {
  return [
    `--config.file=${opts.configFile}`,
    `--storage.tsdb.path=${opts.dataDir}`,
    `--storage.tsdb.retention.time=2h`,
    `--web.listen-address=127.0.0.1:${opts.port}`,
    "--web.enable-lifecycle",
  ];
}

/** Adds (or replaces) a scrape target. Written atomically so Prometheus never reads half a file. */
export async function addScrapeTarget(
  targetsDir: string,
  name: string,
  address: string,
  labels: Record<string, string> = {},
): Promise<void> {
  const file = path.join(targetsDir, `${name}.json`);
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify([{ targets: [address], labels }]));
  await rename(tmp, file);
}

export async function removeScrapeTarget(targetsDir: string, name: string): Promise<void> {
  await rm(path.join(targetsDir, `${name}.json`), { force: true });
}
