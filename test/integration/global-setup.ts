// Starts the local cluster once per test run and stops it afterwards, failures included.
import path from "node:path";
import type { TestProject } from "vitest/node";
import { installFledgeCrds, type LocalCluster, startCluster, stopCluster } from "../../src/devcluster/cluster.js";
import { repoRoot } from "../../src/devcluster/versions.js";

declare module "vitest" {
  export interface ProvidedContext {
    cluster: LocalCluster;
  }
}

const dir = process.env.FLEDGE_TEST_CLUSTER_DIR ?? path.join(repoRoot, ".fledge", "test-cluster");

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A cluster left by a crashed run would hold stale objects: always start fresh.
  await stopCluster(dir);
  const cluster = await startCluster({ dir, log: (line) => process.stderr.write(`[cluster] ${line}\n`) });
  // Fledge's CRDs, as a user installs them.
  await installFledgeCrds(cluster);
  project.provide("cluster", cluster);
  const teardown = async () => {
    await stopCluster(dir);
  };
  // Ctrl-C or a killed runner still stops the control plane.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void teardown().finally(() => process.exit(130));
    });
  }
  return teardown;
}
