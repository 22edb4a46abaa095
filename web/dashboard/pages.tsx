// The dashboard's two pages: all Rollouts, and one Rollout with its steps, charts, checks,
// approval gate, conditions, Events, history and the actions a person may take.
import { useEffect, useState } from "preact/hooks";
import type { ActionName, RolloutDetail, RolloutRow } from "../../src/dashboard/views.js";
import { act, getRollout, Refused } from "./api.js";
import { EvidencePlot, TrafficChart } from "./plots.js";

export const ago = (iso: string | undefined, now = Date.now()) => {
  if (!iso) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
};

const phaseClass = (phase: string) =>
  ({ Healthy: "ok", Progressing: "info", Promoting: "info", Paused: "warn", Degraded: "bad", Initializing: "muted" })[phase] ?? "muted";

export function Phase({ phase }: { phase: string }) {
  return <span class={`badge ${phaseClass(phase)}`}>{phase || "—"}</span>;
}

export function ListPage(props: { rows: RolloutRow[]; namespaces: string[]; namespace: string; onNamespace: (ns: string) => void }) {
  const { rows, namespaces, namespace } = props;
  const shown = namespace ? rows.filter((r) => r.namespace === namespace) : rows;
  return (
    <main>
      <div class="toolbar">
        <h1>Rollouts</h1>
        <label>
          Namespace{" "}
          <select
            value={namespace}
            onChange={(e) => props.onNamespace((e.target as HTMLSelectElement).value)}
            data-testid="namespace-filter"
          >
            <option value="">all</option>
            {namespaces.map((ns) => (
              <option value={ns} key={ns}>
                {ns}
              </option>
            ))}
          </select>
        </label>
      </div>
      {shown.length === 0 ? (
        <p class="muted">No Rollouts you may see{namespace ? ` in ${namespace}` : ""}.</p>
      ) : (
        <table class="rows" data-testid="rollout-list">
          <thead>
            <tr>
              <th>Rollout</th>
              <th>Phase</th>
              <th>Step</th>
              <th>Weight</th>
              <th>Stable</th>
              <th>Canary</th>
              <th>Age</th>
              <th>Waiting on</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={`${r.namespace}/${r.name}`} data-rollout={`${r.namespace}/${r.name}`}>
                <td data-label="Rollout">
                  <a href={`#/${r.namespace}/${r.name}`}>
                    <span class="muted">{r.namespace}/</span>
                    {r.name}
                  </a>
                </td>
                <td data-label="Phase">
                  <Phase phase={r.phase} />
                </td>
                <td data-label="Step">{r.step ? `${r.step.index}/${r.step.total}` : "—"}</td>
                <td data-label="Weight" data-testid="weight">
                  {r.weight} %
                </td>
                <td data-label="Stable">
                  <code>{r.stableRevision ?? "—"}</code>
                </td>
                <td data-label="Canary">
                  <code>{r.canaryRevision ?? "—"}</code>
                </td>
                <td data-label="Age">{ago(r.createdAt)}</td>
                <td data-label="Waiting on">
                  {r.waitingForApproval ? <span class="badge warn">approval, step {r.waitingForApproval.step}</span> : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}

const ACTION_TEXT: Record<ActionName, { label: string; confirm: string; danger?: boolean }> = {
  promote: { label: "Promote", confirm: "end the current step (a pause or the analysis gate still needs a passing interval)" },
  "promote-full": {
    label: "Promote fully",
    confirm: "skip every remaining step and analysis, and make the canary stable now",
    danger: true,
  },
  abort: { label: "Abort", confirm: "roll the canary back: all traffic to stable", danger: true },
  retry: { label: "Retry", confirm: "run the rolled-back revision's canary again" },
  approve: { label: "Approve", confirm: "say yes to the approval step, in your name" },
  reject: { label: "Reject", confirm: "say no: the canary is rolled back, naming you", danger: true },
};

function Actions({ detail, user }: { detail: RolloutDetail; user: string }) {
  const [asking, setAsking] = useState<ActionName | undefined>();
  const [result, setResult] = useState<{ ok: boolean; text: string } | undefined>();
  const run = async (action: ActionName) => {
    setAsking(undefined);
    try {
      await act(detail.namespace, detail.name, action);
      setResult({
        ok: true,
        text: `${ACTION_TEXT[action].label} requested as ${user}; the operator's answer appears under "Last action".`,
      });
    } catch (err) {
      setResult({ ok: false, text: err instanceof Refused ? err.message : String(err) });
    }
  };
  if (detail.actions.length === 0 && !result) return null;
  return (
    <section class="card">
      <h2>Actions</h2>
      <div class="buttons">
        {detail.actions.map((a) => (
          <button type="button" key={a} class={ACTION_TEXT[a].danger ? "danger" : ""} onClick={() => setAsking(a)} data-action={a}>
            {ACTION_TEXT[a].label}
          </button>
        ))}
      </div>
      {asking && (
        <div class="confirm" role="dialog" aria-label="Confirm">
          <p>
            <strong>{ACTION_TEXT[asking].label}</strong> {detail.namespace}/{detail.name}: {ACTION_TEXT[asking].confirm}. As{" "}
            <strong>{user}</strong>?
          </p>
          <button
            type="button"
            class={ACTION_TEXT[asking].danger ? "danger" : "primary"}
            onClick={() => void run(asking)}
            data-testid="confirm"
          >
            Yes, {ACTION_TEXT[asking].label.toLowerCase()}
          </button>{" "}
          <button type="button" onClick={() => setAsking(undefined)}>
            Cancel
          </button>
        </div>
      )}
      {result && (
        <p class={result.ok ? "note ok" : "note bad"} role={result.ok ? "status" : "alert"} data-testid="action-result">
          {result.text}
        </p>
      )}
      {detail.lastAction && (
        <p class="muted" data-testid="last-action">
          Last action: {detail.lastAction.kind} — {detail.lastAction.outcome}: {detail.lastAction.message} ({ago(detail.lastAction.at)} ago)
        </p>
      )}
    </section>
  );
}

function Approval({ detail }: { detail: RolloutDetail }) {
  const a = detail.approval;
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, []);
  if (!a) return null;
  const left = a.deadline ? Math.max(0, Math.round((Date.parse(a.deadline) - Date.now()) / 1000)) : undefined;
  return (
    <section class="card" data-testid="approval">
      <h2>
        Approval gate — step {a.step}, revision <code>{a.revision}</code>
      </h2>
      {a.decision ? (
        <p>
          <span class={`badge ${a.decision === "Approved" ? "ok" : "bad"}`}>{a.decision}</span>
          {a.decidedBy ? ` by ${a.decidedBy}` : ""} {a.decidedAt ? `${ago(a.decidedAt)} ago` : ""}
        </p>
      ) : (
        <p>
          <span class="badge warn">waiting</span> since {ago(a.requestedAt)}
          {left !== undefined ? `; ${Math.floor(left / 60)}m ${left % 60}s left, then ${a.onTimeout ?? "Abort"}` : "; no timeout"}
        </p>
      )}
      <p class="muted">
        Who may decide: in Slack, {a.approvers.length > 0 ? a.approvers.join(", ") : "anyone in the channel"}; here and with the CLI, anyone
        who may patch rollouts in {detail.namespace}.
      </p>
      {a.slackLink && (
        <p>
          <a href={a.slackLink} rel="noreferrer noopener" target="_blank">
            The approval message in Slack
          </a>
        </p>
      )}
    </section>
  );
}

export function RolloutPage({ namespace, name, version, user }: { namespace: string; name: string; version: number; user: string }) {
  const [detail, setDetail] = useState<RolloutDetail | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  // `version` changes whenever the stream reports this Rollout changed: read it again.
  useEffect(() => {
    let live = true;
    getRollout(namespace, name)
      .then((d) => {
        if (!live) return;
        setDetail(d);
        setProblem(undefined);
      })
      .catch((err) => live && setProblem(err instanceof Error ? err.message : String(err)));
    return () => {
      live = false;
    };
  }, [namespace, name, version]);
  if (problem)
    return (
      <main>
        <p class="note bad" role="alert">
          {problem}
        </p>
      </main>
    );
  if (!detail)
    return (
      <main>
        <p class="muted">Loading…</p>
      </main>
    );
  const traffic = detail.analysis?.checks.find((c) => c.evidence && c.evidence.points.length > 0)?.evidence?.points ?? [];
  return (
    <main>
      <p>
        <a href="#/">← all Rollouts</a>
      </p>
      <div class="toolbar">
        <h1>
          <span class="muted">{detail.namespace}/</span>
          {detail.name}
        </h1>
        <Phase phase={detail.phase} />
      </div>
      <p data-testid="message">{detail.message}</p>
      <div class="grid">
        <section class="card">
          <h2>Steps</h2>
          <ol class="steps">
            {detail.steps.map((s) => (
              <li key={s.index} class={s.state} aria-current={s.state === "current" ? "step" : undefined}>
                {s.text}
              </li>
            ))}
          </ol>
          <p>
            Weight <strong data-testid="detail-weight">{detail.weight} %</strong>; stable <code>{detail.stableRevision ?? "—"}</code>,
            canary <code>{detail.canaryRevision ?? "—"}</code>
          </p>
        </section>
        <Actions detail={detail} user={user} />
        <Approval detail={detail} />
      </div>
      {detail.analysis && (
        <section class="card">
          <h2>
            Analysis of {detail.analysis.revision}
            {detail.analysis.policy ? ` (policy ${detail.analysis.policy})` : ""}: {detail.analysis.decision ?? "Pending"}
          </h2>
          {traffic.length > 0 && (
            <>
              <h3>Weight set and canary share served</h3>
              <TrafficChart points={traffic} />
            </>
          )}
          {detail.analysis.checks.map((c) => (
            <div class="check" key={c.name}>
              <h3>
                {c.name} <span class="muted">({c.kind})</span>{" "}
                <span class={`badge ${c.decision === "Fail" ? "bad" : c.decision === "Pass" ? "ok" : "muted"}`}>
                  {c.decision ?? "Pending"}
                </span>
              </h3>
              {c.canary && c.stable && (
                <p>
                  canary {c.canary.requests.toLocaleString()} requests, {c.canary.errors.toLocaleString()}{" "}
                  {c.kind === "latency" ? "slow" : "errors"}; stable {c.stable.requests.toLocaleString()} requests,{" "}
                  {c.stable.errors.toLocaleString()} {c.kind === "latency" ? "slow" : "errors"}
                </p>
              )}
              {c.value !== undefined && <p>value {c.value}</p>}
              {c.kind !== "query" && <EvidencePlot check={c} />}
              {c.explanation && <p class="muted">{c.explanation}</p>}
            </div>
          ))}
        </section>
      )}
      <div class="grid">
        <section class="card">
          <h2>Conditions</h2>
          <ul class="plain">
            {detail.conditions.map((c) => (
              <li key={c.type}>
                <strong>{c.type}</strong> {c.status} <span class="muted">{c.reason}</span> — {c.message}
              </li>
            ))}
          </ul>
        </section>
        <section class="card">
          <h2>History</h2>
          {detail.history.length === 0 ? (
            <p class="muted">No promotion or rollback in the Events kept by the cluster.</p>
          ) : (
            <ul class="plain" data-testid="history">
              {detail.history.map((h) => (
                <li key={h.at + h.outcome}>
                  <span class={`badge ${h.outcome === "Promoted" ? "ok" : "bad"}`}>{h.outcome}</span> {ago(h.at)} ago — {h.message}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <section class="card">
        <h2>Events</h2>
        <ul class="plain events">
          {detail.events.map((e) => (
            <li key={e.at + e.reason + e.message} class={e.type === "Warning" ? "warn" : ""}>
              <span class="muted">{ago(e.at)}</span> <strong>{e.reason}</strong>
              {e.count > 1 ? ` ×${e.count}` : ""} — {e.message}
            </li>
          ))}
        </ul>
      </section>
    </main>
  );
}
