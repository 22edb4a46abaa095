// Lifecycle notices as CloudEvents 1.0 in binary content mode (attributes in ce-* headers, the
// data as the JSON body), sent to one opt-in sink URL. `source` is the Rollout's API path and
// `id` the notice's deterministic id, so a receiver deduplicates redeliveries on (source, id).
// Delivery is bounded: a few attempts with backoff, then the notice is given up for this sink
// (and logged); it never holds a reconcile.
import axios, { type AxiosInstance } from "axios";
import pRetry, { AbortError } from "p-retry";
import { GROUP, type LifecycleNotice, type Rollout, VERSION } from "../api/types.js";

export interface CloudEvent {
  headers: Record<string, string>;
  data: Record<string, unknown>;
}

export function rolloutSource(rollout: Rollout): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${rollout.metadata.namespace}/rollouts/${rollout.metadata.name}`;
}

/** dev.fledge.rollout.canary-started, …promoted, …rolled-back, … */
export function cloudEventType(kind: LifecycleNotice["kind"]): string {
  return `dev.fledge.rollout.${kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase()}`;
}

export function cloudEventFor(rollout: Rollout, notice: LifecycleNotice, cluster: string): CloudEvent {
  return {
    headers: {
      "ce-specversion": "1.0",
      "ce-id": notice.id,
      "ce-source": rolloutSource(rollout),
      "ce-type": cloudEventType(notice.kind),
      "ce-time": notice.at,
      "ce-subject": notice.revision,
      "content-type": "application/json",
    },
    data: {
      cluster,
      namespace: rollout.metadata.namespace,
      rollout: rollout.metadata.name,
      uid: rollout.metadata.uid,
      kind: notice.kind,
      revision: notice.revision,
      message: notice.message,
      ...(notice.figures ? { analysis: notice.figures } : {}),
      ...(notice.check ? { check: notice.check } : {}),
      stableRevision: rollout.status?.stableRevision,
    },
  };
}

export class CloudEventsSink {
  private readonly http: AxiosInstance;

  constructor(
    readonly url: string,
    private readonly attempts = 4,
    timeoutMs = 5_000,
  ) {
    this.http = axios.create({ timeout: timeoutMs, validateStatus: () => true });
  }

  /** Resolves once the sink answered 2xx; rejects after the last attempt (4xx other than 408/429 at once). */
  async send(event: CloudEvent): Promise<void> {
    await pRetry(
      async () => {
        let status: number;
        try {
          status = (await this.http.post(this.url, JSON.stringify(event.data), { headers: event.headers })).status;
        } catch (err) {
          throw new Error(`CloudEvents sink ${this.url} unreachable: ${(err as { code?: string }).code ?? (err as Error).message}`);
        }
        if (status >= 200 && status < 300) return;
        const error = new Error(`CloudEvents sink ${this.url} answered HTTP ${status}`);
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new AbortError(error);
        throw error;
      },
      { retries: this.attempts - 1, minTimeout: 250, factor: 2 },
    );
  }
}
