import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          // One local cluster for the whole run; each test file works in its own namespace.
          globalSetup: ["test/integration/global-setup.ts"],
          // Two files at a time (maxWorkers below): each works in namespaces of its own with an
          // operator scoped to them (startOperatorProcess insists), so they share only the
          // API server, Prometheus and Traefik.
          fileParallelism: true,
          // One after another in one worker, the files can share their imports (client-node,
          // the harness) instead of loading them afresh each: no test mocks modules.
          isolate: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
