// The one place that names the operator's metrics (controller-runtime-style names where they exist).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  // process_resident_memory_bytes, process_cpu_seconds_total, nodejs_heap_size_used_bytes, …:
  // what bench/scale.ts measures, and what a dashboard of the operator wants anyway.
  collectDefaultMetrics({ register: registry });
  const reconcileTotal = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Reconciles by controller and result (success, error, requeue, requeue_after).",
    labelNames: ["controller", "result"] as const,
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Reconciles that ended in an error.",
    labelNames: ["controller"] as const,
    registers: [registry],
  });
  const reconcileTime = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Time per reconcile.",
    labelNames: ["controller"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const workqueueDepth = new Gauge({
    name: "workqueue_depth",
    help: "Keys waiting in the work queue.",
    labelNames: ["name"] as const,
    registers: [registry],
  });
  const rolloutStep = new Gauge({
    name: "fledge_rollout_step",
    help: "Current canary step index (-1 when no canary runs).",
    labelNames: ["namespace", "rollout"] as const,
    registers: [registry],
  });
  const rolloutWeight = new Gauge({
    name: "fledge_rollout_canary_weight",
    help: "Traffic weight on the canary, percent.",
    labelNames: ["namespace", "rollout"] as const,
    registers: [registry],
  });
  const rolloutPhase = new Gauge({
    name: "fledge_rollout_phase",
    help: "1 for the Rollout's current phase, 0 for the others.",
    labelNames: ["namespace", "rollout", "phase"] as const,
    registers: [registry],
  });
  const analysisOutcomes = new Counter({
    name: "fledge_analysis_outcomes_total",
    help: "Analysis ticks by outcome (baseline, pass, continue, inconclusive, fail, error, stop).",
    labelNames: ["namespace", "rollout", "outcome"] as const,
    registers: [registry],
  });
  const kubeWrites = new Counter({
    name: "fledge_kube_writes_total",
    help: "Write requests the operator sent to the Kubernetes API, by verb and kind.",
    labelNames: ["verb", "kind"] as const,
    registers: [registry],
  });
  const kubeReads = new Counter({
    name: "fledge_kube_reads_total",
    help: "Read requests the operator sent to the Kubernetes API (lists that fill a cache, single gets), by verb and resource; watches stay open and are not counted.",
    labelNames: ["verb", "resource"] as const,
    registers: [registry],
  });
  const analysisBatchRollouts = new Histogram({
    name: "fledge_analysis_batch_rollouts",
    help: "Rollouts whose analysis samples were read together in one batch (src/analysis/batched-sampler.ts).",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [registry],
  });
  const sampleLateness = new Histogram({
    name: "fledge_analysis_sample_lateness_seconds",
    help: "How long after it was due (the last sample plus the policy's interval) an analysis sample was taken.",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [registry],
  });
  const analysisBatchRequests = new Counter({
    name: "fledge_analysis_batch_requests_total",
    help: "Batched query requests sent to Prometheus (each carries the counter queries of many Rollouts).",
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: "fledge_watch_restarts_total",
    help: "Informer restarts after an error or a silent watch.",
    labelNames: ["resource"] as const,
    registers: [registry],
  });
  const slackInteractions = new Counter({
    name: "fledge_slack_interactions_total",
    help: "Slack requests and clicks by how they arrived (http, socket-mode) and what became of them.",
    labelNames: ["via", "result"] as const,
    registers: [registry],
  });
  const deliveries = new Counter({
    name: "fledge_deliveries_total",
    help: "Messages sent out (Slack gate messages and updates, notices, CloudEvents) by sink and result.",
    labelNames: ["sink", "result"] as const,
    registers: [registry],
  });
  const leader = new Gauge({
    name: "fledge_leader",
    help: "1 while this replica holds the leader lease and reconciles.",
    registers: [registry],
  });
  const shardHeld = new Gauge({
    name: "fledge_shard_held",
    help: "1 for each shard this replica holds (and reconciles the Rollouts of), 0 for one it gave up.",
    labelNames: ["shard"] as const,
    registers: [registry],
  });
  return {
    registry,
    leader,
    shardHeld,
    reconcileTotal,
    reconcileErrors,
    reconcileTime,
    workqueueDepth,
    rolloutStep,
    rolloutWeight,
    rolloutPhase,
    analysisOutcomes,
    kubeWrites,
    kubeReads,
    analysisBatchRollouts,
    analysisBatchRequests,
    sampleLateness,
    watchRestarts,
    slackInteractions,
    deliveries,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
