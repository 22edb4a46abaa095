// The application Fledge's local cluster pretends to run: what a pod template declares about its
// behaviour, and the headers an answer carries to say who served it. Shared by the pods of the
// real data plane (src/dataplane/pods.ts) and by the clients and pretend routing of src/sim/.

/** Behaviour a pod template declares through env vars on its first container. */
export const ENV_ERROR_RATE = "FLEDGE_SIM_ERROR_RATE";
export const ENV_LATENCY_MS = "FLEDGE_SIM_LATENCY_MS";

/** A common-mode incident, set on a namespace: every pod in it answers errors this many times as
 * often as its template says (capped at 100 %). bench/peers.ts sets it on both arms at once, to
 * check that a canary is not rolled back for an outage it shares with the stable version. Read
 * by the pods of the real data plane (src/dataplane/pods.ts). */
export const ANNOTATION_ERROR_MULTIPLIER = "sim.fledge.dev/error-multiplier";

/** A namespace's error multiplier from its annotations: 1 when absent or not a number ≥ 0. */
export function errorMultiplierOf(annotations: Readonly<Record<string, string>> | undefined): number {
  const raw = annotations?.[ANNOTATION_ERROR_MULTIPLIER];
  const m = raw === undefined ? 1 : Number(raw);
  return Number.isFinite(m) && m >= 0 ? m : 1;
}

/** Every answer names the pod, its track and its revision. */
export const HEADER_POD = "x-fledge-pod";
export const HEADER_TRACK = "x-fledge-track";
export const HEADER_REVISION = "x-fledge-revision";

/** The behaviour a container declares (FLEDGE_SIM_ERROR_RATE 0-1, FLEDGE_SIM_LATENCY_MS mean).
 * An image tag ending in `-err<rate>` (e.g. shop:2-err0.3) declares the error rate too, unless the
 * env var does: a `kubectl set image` can then ship a bad build, as a real release would. */
export function behaviourOfEnv(
  env: ReadonlyArray<{ name: string; value?: string }>,
  image?: string,
): { errorRate: number; latencyMs: number } {
  const value = (name: string) => env.find((e) => e.name === name)?.value;
  const fromTag = /-err([0-9.]+)$/.exec(image ?? "")?.[1];
  const errorRate = Number(value(ENV_ERROR_RATE) ?? fromTag ?? 0);
  const latencyMs = Number(value(ENV_LATENCY_MS) ?? 20);
  return {
    errorRate: Number.isFinite(errorRate) ? Math.min(Math.max(errorRate, 0), 1) : 0,
    latencyMs: Number.isFinite(latencyMs) && latencyMs >= 0 ? latencyMs : 20,
  };
}
