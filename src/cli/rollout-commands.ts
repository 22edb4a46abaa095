// The user's commands on Rollouts: get, status, promote [--full], abort, retry. Actions are
// the same annotation a person can set with kubectl (src/controller/user-actions.ts).
import { userInfo } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import * as k8s from "@kubernetes/client-node";
import type { Command } from "commander";
import { parseDuration } from "../api/duration.js";
import { GROUP, type Rollout, VERSION } from "../api/types.js";
import { LABEL_LEASE_ROLE, LABEL_SHARD, LABEL_SHARDS } from "../controller/shard-coordinator.js";
import { shardOf } from "../controller/shard-plan.js";
import { actionValue, approvalValue, refusalOf, type UserActionKind } from "../controller/user-actions.js";
import { writeActionAnnotation } from "../kube/action-annotation.js";
import { apiProblem } from "../kube/client.js";
import { loadKubeConfig } from "./operator-command.js";
import { renderStatus, renderTable } from "./render-status.js";
import { WAIT_EXIT, waitVerdict } from "./wait.js";

interface Common {
  kubeconfig?: string;
  namespace?: string;
}

/** Flags given before the subcommand (`fledge -n shop status web`), as kubectl takes them. */
let globalFlags: () => Common = () => ({});

function context(given: Common) {
  const opts = { ...globalFlags(), ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) } as Common;
  const kc = loadKubeConfig(opts.kubeconfig);
  const namespace = opts.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
  return { kc, namespace, custom: kc.makeApiClient(k8s.CustomObjectsApi), events: kc.makeApiClient(k8s.EventsV1Api) };
}

async function readRollout(custom: k8s.CustomObjectsApi, namespace: string, name: string): Promise<Rollout> {
  try {
    return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: "rollouts", name })) as Rollout;
  } catch (err) {
    const p = apiProblem(err);
    if (p.code === 404) throw new Error(`Rollout ${name} not found in namespace ${namespace}; list them with 'fledge get -A'`);
    throw new Error(`could not read Rollout ${namespace}/${name}: ${p.message}`);
  }
}

const withCommon = (cmd: Command) =>
  cmd
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's)")
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)");

export interface ActionOptions extends Common {
  /** How long to wait for the operator's answer (a duration); "0" writes and returns at once. */
  wait?: string;
}

export class ActionRefused extends Error {}
/** The annotation was written but the operator did not answer in time. */
export class NoAnswer extends Error {}

/**
 * Asks the operator for an action and tells the truth about it: refused at once (nothing
 * written) when the operator would ignore it; otherwise written, then the operator's answer
 * (status.lastAction) is awaited and reported. Resolves with the line to print; throws
 * ActionRefused (exit 1) when the operator would ignore or ignored it, NoAnswer (exit 3) when it
 * did not answer in time.
 */
export async function requestAction(opts: ActionOptions, name: string, kind: UserActionKind, value = actionValue(kind)): Promise<string> {
  const { namespace, custom } = context(opts);
  const where = `Rollout ${namespace}/${name}`;
  const rollout = await readRollout(custom, namespace, name);
  const seen = (rollout.status?.observedGeneration ?? -1) >= (rollout.metadata.generation ?? 0);
  const refusal = refusalOf(kind, name, rollout.status ?? {}, seen);
  if (refusal) throw new ActionRefused(`${kind} refused for ${where}: ${refusal}; nothing was changed`);
  await writeActionAnnotation(custom, namespace, name, value);
  const waitMs = parseDuration(opts.wait ?? "30s");
  if (waitMs === 0) return `${kind} requested for ${where}; the operator applies it on its next reconcile`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = await readRollout(custom, namespace, name);
    const record = now.status?.lastAction;
    if (record?.value === value) {
      if (record.outcome === "Ignored") throw new ActionRefused(`${kind} ignored by the operator for ${where}: ${record.message}`);
      return `${kind} ${record.outcome === "Waiting" ? "accepted" : "applied"} for ${where}: ${record.message}`;
    }
    if (Date.now() >= deadline)
      throw new NoAnswer(
        `${kind} was written to ${where}, but the operator has not handled it within ${opts.wait ?? "30s"}: is it running and watching namespace ${namespace}? The annotation stays and is applied when it does.`,
      );
    await sleep(300);
  }
}

/** Runs an action command: prints the outcome; exit 3 when the operator did not answer, 1 when
 * it refused or ignored the action, or on any other error (a wrong name, say). */
async function runAction(opts: ActionOptions, name: string, kind: UserActionKind, value?: string): Promise<void> {
  try {
    process.stdout.write(`${await requestAction(opts, name, kind, value)}\n`);
  } catch (err) {
    process.stderr.write(`fledge: ${(err as Error).message}\n`);
    process.exit(err instanceof NoAnswer ? 3 : 1);
  }
}

const withWait = (cmd: Command) => cmd.option("--wait <duration>", "how long to wait for the operator's answer (0: do not wait)", "30s");

export function registerRolloutCommands(program: Command): void {
  // Positional: flags before the subcommand are the program's, flags after it the subcommand's
  // (`fledge operator --kubeconfig …` keeps its own), and context() merges the two.
  program
    .enablePositionalOptions()
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's)")
    .option("--kubeconfig <file>", "kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)");
  globalFlags = () => program.opts<Common>();
  withCommon(program.command("get").description("list Rollouts"))
    .option("-A, --all-namespaces", "in every namespace")
    .action(async (opts: Common & { allNamespaces?: boolean }) => {
      const { namespace, custom } = context(opts);
      const list = (
        opts.allNamespaces
          ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: "rollouts" })
          : await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: "rollouts" })
      ) as { items: Rollout[] };
      process.stdout.write(
        list.items.length === 0
          ? `no Rollouts in ${opts.allNamespaces ? "any namespace" : `namespace ${namespace}`}\n`
          : renderTable(list.items),
      );
    });

  withCommon(program.command("status <name>").description("show a Rollout: revisions, steps, weight, analysis, conditions, recent events"))
    .option("-w, --watch", "redraw every second until interrupted")
    .action(async (name: string, opts: Common & { watch?: boolean }) => {
      const { namespace, custom, events, kc } = context(opts);
      const show = async () => {
        const rollout = await readRollout(custom, namespace, name);
        const list = await events.listNamespacedEvent({ namespace, fieldSelector: `regarding.name=${name},regarding.kind=Rollout` });
        const recent = list.items
          .sort((a, b) => new Date(a.eventTime ?? 0).getTime() - new Date(b.eventTime ?? 0).getTime())
          .map((e) => ({ reason: e.reason ?? "", message: e.note ?? "", type: e.type ?? "Normal" }));
        return renderStatus(rollout, recent, new Date(), await shardOwner(kc, namespace, name));
      };
      if (!opts.watch) {
        process.stdout.write(await show());
        return;
      }
      const tty = Boolean(process.stdout.isTTY);
      let last = "";
      for (;;) {
        const text = await show();
        if (text !== last) process.stdout.write(tty ? `\x1b[2J\x1b[H${text}` : `${text}\n`);
        last = text;
        await sleep(1000);
      }
    });

  withCommon(
    program
      .command("wait <name>")
      .description("wait until the Rollout is healthy or degraded; exit 0 reached, 2 the other outcome, 3 timed out"),
  )
    .requiredOption("--for <state>", "healthy or degraded")
    .option("--timeout <duration>", "give up after this long (e.g. 10m)", "10m")
    .action(async (name: string, opts: Common & { for: string; timeout: string }) => {
      if (opts.for !== "healthy" && opts.for !== "degraded") throw new Error(`--for must be healthy or degraded, not "${opts.for}"`);
      const target = opts.for;
      const { namespace, custom } = context(opts);
      const deadline = Date.now() + parseDuration(opts.timeout);
      const where = `Rollout ${namespace}/${name}`;
      for (;;) {
        const rollout = await readRollout(custom, namespace, name);
        const verdict = waitVerdict(rollout, target);
        if (verdict === "reached") {
          process.stdout.write(`${where} is ${target}: ${rollout.status?.message ?? ""}\n`);
          process.exit(WAIT_EXIT.reached);
        }
        if (verdict === "otherOutcome") {
          process.stderr.write(`${where} ended ${target === "healthy" ? "degraded" : "healthy"}: ${rollout.status?.message ?? ""}\n`);
          process.exit(WAIT_EXIT.otherOutcome);
        }
        if (Date.now() >= deadline) {
          process.stderr.write(
            `${where} was not ${target} after ${opts.timeout} (phase ${rollout.status?.phase ?? "unknown"}: ${rollout.status?.message ?? ""})\n`,
          );
          process.exit(WAIT_EXIT.timeout);
        }
        await sleep(1000);
      }
    });

  withWait(
    withCommon(
      program
        .command("promote <name>")
        .description(
          "end the current pause once the analysis has passed at this weight, then go to the next step; --full skips to promotion now",
        ),
    ),
  )
    .option("--full", "skip the remaining steps and analysis; make the canary stable now (also a rolled-back one)")
    .action((name: string, opts: ActionOptions & { full?: boolean }) => runAction(opts, name, opts.full ? "promote-full" : "promote"));
  withWait(
    withCommon(program.command("abort <name>").description("roll the canary back now: weight 0, canary scaled down, stable untouched")),
  ).action((name: string, opts: ActionOptions) => runAction(opts, name, "abort"));
  for (const kind of ["approve", "reject"] as const) {
    withWait(
      withCommon(
        program
          .command(`${kind} <name>`)
          .description(
            kind === "approve" ? "say yes to the approval step the Rollout waits at" : "say no: the canary is rolled back, naming you",
          ),
      ),
    )
      .option("--as <who>", "the name recorded as the decider, exactly as given (default: your login name)")
      .action(async (name: string, opts: ActionOptions & { as?: string }) => {
        const { namespace, custom } = context(opts);
        const rollout = await readRollout(custom, namespace, name);
        const gate = rollout.status?.approval;
        if (!gate || gate.decision !== undefined || rollout.status?.canaryRevision !== gate.revision) {
          throw new Error(
            `Rollout ${namespace}/${name} is not waiting for an approval (phase ${rollout.status?.phase ?? "unknown"}); nothing to ${kind}`,
          );
        }
        const who = opts.as ?? process.env.USER ?? userInfo().username;
        await runAction(opts, name, kind, approvalValue(kind, who));
      });
  }

  withWait(withCommon(program.command("retry <name>").description("run a rolled-back revision again"))).action(
    (name: string, opts: ActionOptions) => runAction(opts, name, "retry"),
  );
}

/** Which operator replica reconciles the Rollout, when the operators run sharded (--shards): the
 * holder of its shard's Lease. Undefined when they do not, or the Leases may not be listed. */
async function shardOwner(kc: k8s.KubeConfig, namespace: string, name: string): Promise<string | undefined> {
  try {
    const leases = await kc.makeApiClient(k8s.CoordinationV1Api).listLeaseForAllNamespaces({ labelSelector: `${LABEL_LEASE_ROLE}=shard` });
    const shards = Number(leases.items[0]?.metadata?.labels?.[LABEL_SHARDS] ?? 0);
    if (!shards) return undefined;
    const shard = shardOf(`${namespace}/${name}`, shards);
    const lease = leases.items.find((l) => Number(l.metadata?.labels?.[LABEL_SHARD]) === shard);
    return `replica ${lease?.spec?.holderIdentity || "(none: shard free)"}, shard ${shard} of ${shards} (Lease ${lease?.metadata?.namespace}/${lease?.metadata?.name})`;
  } catch {
    return undefined;
  }
}
