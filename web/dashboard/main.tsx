// The dashboard page: signs in (token mode), lists the Rollouts, follows the stream of changes,
// and routes by the URL's hash (#/ for the list, #/<namespace>/<name> for one Rollout).
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { listRollouts, login, logout, Refused, type RolloutRow, type SessionInfo, session, subscribe } from "./api.js";
import { ListPage, RolloutPage } from "./pages.js";

const route = () => {
  const [, namespace, name] = location.hash.split("/");
  return namespace && name ? { namespace: decodeURIComponent(namespace), name: decodeURIComponent(name) } : undefined;
};

function SignIn({ problem, onSignedIn }: { problem: string; onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>();
  return (
    <main class="narrow">
      <h1>Fledge</h1>
      <p class="muted">{problem}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          login(token)
            .then(onSignedIn)
            .catch((err) => setError(err instanceof Error ? err.message : String(err)));
        }}
      >
        <label>
          Kubernetes bearer token
          <input type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
      {error && (
        <p class="note bad" role="alert">
          {error}
        </p>
      )}
    </main>
  );
}

function App() {
  const [me, setMe] = useState<SessionInfo | { problem: string } | undefined>();
  const [rows, setRows] = useState<RolloutRow[]>([]);
  const [namespaces, setNamespaces] = useState<string[]>([]);
  const [namespace, setNamespace] = useState("");
  const [where, setWhere] = useState(route());
  const [versions, setVersions] = useState<Record<string, number>>({});

  const start = () =>
    session()
      .then(setMe)
      .catch((err) => setMe({ problem: err instanceof Refused ? err.message : String(err) }));
  useEffect(() => void start(), []);
  useEffect(() => {
    const onHash = () => setWhere(route());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  useEffect(() => {
    if (!me || "problem" in me) return;
    listRollouts()
      .then((l) => {
        setRows(l.rollouts);
        setNamespaces(l.namespaces);
      })
      .catch(() => undefined);
    return subscribe((change) => {
      const key = `${change.namespace}/${change.name}`;
      setRows((old) => {
        const rest = old.filter((r) => `${r.namespace}/${r.name}` !== key);
        if ("deleted" in change) return rest;
        return [...rest, change].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
      });
      setNamespaces((old) => (old.includes(change.namespace) ? old : [...old, change.namespace].sort()));
      setVersions((v) => ({ ...v, [key]: (v[key] ?? 0) + 1 }));
    });
  }, [me]);

  if (!me) return <main class="narrow muted">Loading…</main>;
  if ("problem" in me) return <SignIn problem={me.problem} onSignedIn={() => void start()} />;
  return (
    <>
      <header>
        <a href="#/" class="brand">
          Fledge
        </a>
        <span class="muted" data-testid="user">
          {me.username}
        </span>
        {me.mode === "token" && (
          <button type="button" class="link" onClick={() => void logout().then(() => setMe({ problem: "signed out" }))}>
            Sign out
          </button>
        )}
      </header>
      {where ? (
        <RolloutPage
          namespace={where.namespace}
          name={where.name}
          version={versions[`${where.namespace}/${where.name}`] ?? 0}
          user={me.username}
        />
      ) : (
        <ListPage rows={rows} namespaces={namespaces} namespace={namespace} onNamespace={setNamespace} />
      )}
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
