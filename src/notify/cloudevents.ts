// Lifecycle notices as CloudEvents 1.0 in binary content mode (attributes in ce-* headers, the
// data as the JSON body), sent to one opt-in sink URL. The CNCF SDK (`cloudevents`) builds and
// validates each event and its HTTP encoding, so what leaves is a CloudEvent by the spec's rules. `source` is the Rollout's API path and
// `id` the notice's deterministic id, so a receiver deduplicates redeliveries on (source, id).
// Delivery is bounded: a few attempts with backoff, then the notice is given up for this sink
// (and logged); it never holds a reconcile.
import axios, { type AxiosInstance } from "axios";
import { HTTP, CloudEvent as SpecEvent } from "cloudevents";
import pRetry, { AbortError } from "p-retry";
import { GROUP, type LifecycleNotice, type Rollout, VERSION } from "../api/types.js";

/** One event, encoded for HTTP in binary mode. */
export interface CloudEventMessage {
  headers: Record<string, string>;
  body: string;
}

export function rolloutSource(rollout: Rollout): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${rollout.metadata.namespace}/rollouts/${rollout.metadata.name}`;
}

/** dev.fledge.rollout.canary-started, …promoted, …rolled-back, … */
export function cloudEventType(kind: LifecycleNotice["kind"]): string {
  return `dev.fledge.rollout.${kind.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase()}`;
}

export function cloudEventFor(rollout: Rollout, notice: LifecycleNotice, cluster: string): CloudEventMessage {
  const event = new SpecEvent({
    specversion: "1.0",
    id: notice.id,
    source: rolloutSource(rollout),
    type: cloudEventType(notice.kind),
    time: notice.at,
    subject: notice.revision,
    datacontenttype: "application/json",
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
  });
  const { headers, body } = HTTP.binary(event);
  return { headers: headers as Record<string, string>, body: String(body) };
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
  async send(event: CloudEventMessage): Promise<void> {
    await pRetry(
      async () => {
        let status: number;
        try {
          status = (await this.http.post(this.url, event.body, { headers: event.headers })).status;
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
