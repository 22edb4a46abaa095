// `fledge simulate`: "with my traffic, how long will this policy take to catch a 2× canary,
// and how often will it roll back a good one?" — before rolling out.
import { readFile } from "node:fs/promises";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { parse } from "yaml";
import { checksOf } from "../analysis/checks.js";
import { type AnalysisPolicy, GROUP, VERSION } from "../api/types.js";
import { renderSummaries, runSimulation } from "../simulate/report.js";
import { loadKubeConfig } from "./operator-command.js";

interface SimulateOptions {
  policy: string;
  namespace?: string;
  kubeconfig?: string;
  rps: string;
  weights: string;
  stableErrorRate: string;
  canaryErrorRate: string;
  stableSlowRate: string;
  canarySlowRate?: string;
  runs: string;
  seed: string;
  maxDuration: string;
  compare?: boolean;
}

async function loadPolicy(opts: SimulateOptions): Promise<AnalysisPolicy> {
  if (opts.policy.endsWith(".yaml") || opts.policy.endsWith(".yml") || opts.policy.endsWith(".json")) {
    const doc = parse(await readFile(opts.policy, "utf8")) as AnalysisPolicy;
    if (doc?.kind !== "AnalysisPolicy") throw new Error(`${opts.policy} is not an AnalysisPolicy (kind: ${doc?.kind})`);
    return doc;
  }
  const kc = loadKubeConfig(opts.kubeconfig);
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
  return (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: "analysispolicies",
    name: opts.policy,
  })) as AnalysisPolicy;
}

export function registerSimulateCommand(program: Command): void {
  program
    .command("simulate")
    .description("run seeded simulated rollouts of a policy against a traffic profile; print false rollbacks, power, time to decision")
    .requiredOption("--policy <file|name>", "an AnalysisPolicy file, or the name of one in the cluster")
    .option("-n, --namespace <ns>", "namespace of an in-cluster policy")
    .option("--kubeconfig <file>", "kubeconfig for an in-cluster policy")
    .option("--rps <n>", "requests per second over both arms", "100")
    .option("--weights <list>", "canary weight at each analysed step, percent", "10")
    .option("--stable-error-rate <r>", "stable's error rate", "0.005")
    .option("--canary-error-rate <list>", "canary error rate(s); one table each", "0.005,0.01,0.05")
    .option("--stable-slow-rate <r>", "latency checks: stable's share of requests slower than the check's bound", "0.01")
    .option("--canary-slow-rate <r>", "latency checks: the canary's share slower than the bound (default: stable's)")
    .option("--runs <n>", "simulated rollouts per scenario", "10000")
    .option("--seed <n>", "random seed (same seed, same result)", "1")
    .option("--max-duration <seconds>", "longest a simulated rollout may run", "3600")
    .option(
      "--compare",
      "also run the models of the real Argo Rollouts and Flagger controllers (the settings make bench-peers runs them with)",
    )
    .action(async (opts: SimulateOptions) => {
      const policy = await loadPolicy(opts);
      const weights = opts.weights.split(",").map(Number);
      const stable = Number(opts.stableErrorRate);
      const slow = { stableSlowRate: Number(opts.stableSlowRate), canarySlowRate: Number(opts.canarySlowRate ?? opts.stableSlowRate) };
      const unsimulated = checksOf(policy.spec).filter((c) => c.query);
      if (unsimulated.length > 0)
        process.stdout.write(
          `Query checks read arbitrary PromQL and are left out of the simulation: ${unsimulated.map((c) => c.name).join(", ")}\n`,
        );
      for (const canary of opts.canaryErrorRate.split(",").map(Number)) {
        const started = Date.now();
        const summaries = runSimulation({
          policy: policy.spec,
          profile: {
            rps: Number(opts.rps),
            weights,
            stableErrorRate: stable,
            canaryErrorRate: canary,
            ...slow,
            maxSeconds: Number(opts.maxDuration),
          },
          runs: Number(opts.runs),
          seed: Number(opts.seed),
          compare: opts.compare,
          label: `${policy.metadata?.name ?? "policy"}`,
        });
        const good = canary <= stable;
        process.stdout.write(
          `\n## canary ${(canary * 100).toFixed(2)} % vs stable ${(stable * 100).toFixed(2)} % (${(canary / stable).toFixed(1)}×), ${opts.rps} req/s, weights ${weights.join(" → ")} %\n\n`,
        );
        process.stdout.write(renderSummaries(summaries, good));
        process.stdout.write(`\n(${opts.runs} runs per rule, seed ${opts.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      }
    });
}
