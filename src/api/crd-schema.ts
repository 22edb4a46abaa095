// The CustomResourceDefinitions of fledge.dev/v1alpha1, built as data. `make crds` writes them
// to crds/*.yaml; a unit test checks the files are up to date and match src/api/types.ts.
// Validation lives here (OpenAPI + CEL) so the API server refuses bad input with a message
// that names the field and says what to fix.
import { GROUP, VERSION } from "./types.js";

export type Schema = {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  nullable?: boolean;
  pattern?: string;
  format?: string;
  default?: unknown;
  anyOf?: Schema[];
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "map" | "set" | "atomic";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: Array<{ rule: string; message: string; fieldPath?: string; reason?: string }>;
};

const DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DURATION = "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$";

const obj = (description: string, properties: Record<string, Schema>, required: string[] = [], extra: Schema = {}): Schema => ({
  type: "object",
  description,
  properties,
  ...(required.length > 0 ? { required } : {}),
  ...extra,
});
const str = (description: string, extra: Schema = {}): Schema => ({ type: "string", description, maxLength: 253, ...extra });
const int = (description: string, minimum: number, maximum: number, extra: Schema = {}): Schema => ({
  type: "integer",
  description,
  minimum,
  maximum,
  ...extra,
});
const num = (description: string, minimum: number, maximum: number): Schema => ({ type: "number", description, minimum, maximum });
const duration = (description: string, min: string, max: string): Schema =>
  str(description, {
    maxLength: 32,
    pattern: DURATION,
    "x-kubernetes-validations": [
      {
        rule: `duration(self) >= duration('${min}') && duration(self) <= duration('${max}')`,
        message: `must be a duration between ${min} and ${max}, such as 30s, 1m or 1h30m`,
      },
    ],
  });
const stringMap = (description: string, maxProperties: number): Schema => ({
  type: "object",
  description,
  maxProperties,
  additionalProperties: { type: "string", maxLength: 1024 },
});
const DNS_SUBDOMAIN = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
const secretKeyRef = (description: string): Schema =>
  obj(
    description,
    {
      name: str("Secret name, in the policy's namespace.", { maxLength: 253, pattern: DNS_SUBDOMAIN }),
      key: str("Key in the Secret's data.", { maxLength: 253, pattern: "^[-._a-zA-Z0-9]+$" }),
    },
    ["name", "key"],
  );
const stopAction = (description: string): Schema => ({ type: "string", description, enum: ["Abort", "Pause"] });
const timestamp = (description: string): Schema => ({ type: "string", description, format: "date-time" });
const gateDecision: Schema = {
  type: "string",
  description: "Approved, Rejected, TimedOut, Superseded or Aborted",
  enum: ["Approved", "Rejected", "TimedOut", "Superseded", "Aborted"],
};
const counterMap = (description: string): Schema => ({
  type: "object",
  description,
  maxProperties: 500,
  additionalProperties: { type: "number" },
});
const armCounts = (description: string): Schema =>
  obj(
    description,
    { requests: { type: "number", description: "requests counted" }, errors: { type: "number", description: "errors counted" } },
    ["requests", "errors"],
  );

// ------------------------------------------------------------------------------ Rollout

const podTemplate: Schema = {
  type: "object",
  description: "A pod template, exactly as in a Deployment. Every change is a new revision and starts a canary.",
  "x-kubernetes-preserve-unknown-fields": true,
  required: ["spec"],
  properties: {
    metadata: {
      type: "object",
      description: "Labels and annotations of the pods.",
      "x-kubernetes-preserve-unknown-fields": true,
      properties: {
        labels: stringMap("Pod labels. Keys starting with fledge.dev/ are set by the operator.", 64),
        annotations: stringMap("Pod annotations.", 64),
      },
      "x-kubernetes-validations": [
        {
          rule: "!has(self.labels) || self.labels.all(k, !k.startsWith('fledge.dev/'))",
          message: "labels starting with fledge.dev/ are reserved for the operator (track and revision); remove them from the template",
        },
      ],
    },
    spec: {
      type: "object",
      description: "The pod spec.",
      "x-kubernetes-preserve-unknown-fields": true,
      required: ["containers"],
      properties: {
        containers: {
          type: "array",
          description: "The containers (at least one).",
          minItems: 1,
          maxItems: 32,
          items: {
            type: "object",
            "x-kubernetes-preserve-unknown-fields": true,
            required: ["name", "image"],
            properties: {
              name: str("container name", { maxLength: 63, pattern: DNS_LABEL }),
              image: str("container image", { minLength: 1, maxLength: 1024 }),
            },
          },
        },
      },
    },
  },
};

const headerRoute = (description: string): Schema =>
  obj(
    description,
    {
      name: str("Name of the preview route (a DNS label).", { maxLength: 40, pattern: DNS_LABEL }),
      match: {
        type: "array",
        description: "Headers a request must carry, all of them.",
        minItems: 1,
        maxItems: 8,
        items: obj(
          "one header",
          {
            header: str("Header name.", { maxLength: 128, pattern: "^[A-Za-z0-9-]+$" }),
            value: str("The value (or the regular expression).", { minLength: 1, maxLength: 1024 }),
            type: { type: "string", description: "Exact (default) or RegularExpression", enum: ["Exact", "RegularExpression"] },
          },
          ["header", "value"],
        ),
      },
    },
    ["name"],
  );

const canaryStep: Schema = obj(
  "One step of the canary. Exactly one of setWeight, pause or approval.",
  {
    setWeight: int("Percentage of traffic sent to the canary, 0-100.", 0, 100),
    pause: obj("Wait: for a duration, or until promoted when no duration is given.", {
      duration: duration("How long to wait, e.g. 30s or 2m. Leave out to wait until `fledge promote`.", "1s", "168h"),
    }),
    approval: obj("Wait for a person's yes or no: fledge approve/reject, the fledge.dev/action annotation, or Slack buttons.", {
      slack: obj(
        "Where the approval message goes.",
        { channel: str("Slack channel id, e.g. C0123ABC.", { maxLength: 64, pattern: "^[A-Z0-9]+$" }) },
        ["channel"],
      ),
      approvers: {
        type: "array",
        description: "Slack user ids (U…/W…) or user-group ids (S…) allowed to decide in Slack.",
        maxItems: 50,
        items: { type: "string", maxLength: 64, pattern: "^[UWS][A-Z0-9]+$" },
      },
      timeout: duration("How long to wait for a decision (default 1h).", "10s", "168h"),
      onTimeout: stopAction("Abort rolls back; Pause holds the canary until promoted or aborted. Default Abort."),
    }),
    setHeaderRoute: headerRoute(
      "A preview route: requests carrying the header reach the canary, beside any weight; without match it is removed.",
    ),
    setCanaryScale: obj(
      "The canary's size from this step on, apart from its weight (as in Argo Rollouts): replicas (a count), weight (a percentage of the stable replicas) or matchTrafficWeight: true (follow the weight again, the default).",
      {
        replicas: int("A fixed number of canary pods.", 1, 1000),
        weight: int("Canary pods as a percentage of the stable replicas (rounded up, at least 1).", 1, 100),
        matchTrafficWeight: { type: "boolean", description: "Follow the traffic weight again." },
      },
      [],
      {
        "x-kubernetes-validations": [
          {
            rule: "(has(self.replicas) ? 1 : 0) + (has(self.weight) ? 1 : 0) + (has(self.matchTrafficWeight) && self.matchTrafficWeight ? 1 : 0) == 1",
            message: "setCanaryScale sets exactly one of replicas, weight or matchTrafficWeight: true",
          },
        ],
      },
    ),
  },
  [],
  {
    "x-kubernetes-validations": [
      {
        rule: "(has(self.setWeight) ? 1 : 0) + (has(self.pause) ? 1 : 0) + (has(self.approval) ? 1 : 0) + (has(self.setHeaderRoute) ? 1 : 0) + (has(self.setCanaryScale) ? 1 : 0) == 1",
        message: "each step must set exactly one of setWeight, pause, approval, setHeaderRoute or setCanaryScale",
      },
    ],
  },
);

const condition: Schema = obj(
  "A condition, keyed by type.",
  {
    type: str("Ready, Progressing, AnalysisHealthy, …", { maxLength: 64 }),
    status: { type: "string", description: "True, False or Unknown", enum: ["True", "False", "Unknown"] },
    reason: str("CamelCase reason", { maxLength: 128 }),
    message: { type: "string", description: "human-readable detail", maxLength: 4096 },
    lastTransitionTime: timestamp("when status last changed"),
    observedGeneration: { type: "integer", description: "the generation this condition is about" },
  },
  ["type", "status", "reason", "message", "lastTransitionTime"],
);

const analysisDecision: Schema = {
  type: "string",
  description: "the last decision",
  enum: ["Pass", "Fail", "Inconclusive", "Error", "Pending"],
};

const checkStatus: Schema = obj(
  "One check's state: counts per arm and its judge's state (ratio, latency), or its last value (query).",
  {
    name: str("the check's name", { maxLength: 63 }),
    kind: { type: "string", description: "ratio, latency or query", enum: ["ratio", "latency", "query"] },
    lastCounters: obj(
      "last raw counter value per series, for differencing",
      {
        canaryRequests: counterMap("canary event counters"),
        canaryErrors: counterMap("canary bad-event counters (errors; slow requests for latency)"),
        stableRequests: counterMap("stable event counters"),
        stableErrors: counterMap("stable bad-event counters"),
        evaluatedAt: { type: "number", description: "the Prometheus evaluation instant of these values (Unix seconds)" },
      },
      ["canaryRequests", "canaryErrors", "stableRequests", "stableErrors"],
    ),
    canary: armCounts("canary events and bad events since analysis began"),
    stable: armCounts("stable events and bad events since analysis began"),
    window: obj(
      "counts in the interval being judged",
      {
        canary: armCounts("canary counts in this interval"),
        stable: armCounts("stable counts in this interval"),
        startedAt: timestamp("when this interval began"),
      },
      ["canary", "stable", "startedAt"],
    ),
    atWeight: obj(
      "counts and ticks at the current weight",
      {
        canary: armCounts("canary counts at this weight"),
        stable: armCounts("stable counts at this weight"),
        ticks: { type: "integer", description: "analysis ticks at this weight" },
        settledCanary: { type: "number", description: "canary requests from the third tick at this weight on (sample-ratio check)" },
        settledTotal: { type: "number", description: "all requests from the third tick at this weight on (sample-ratio check)" },
      },
      ["canary", "stable", "ticks"],
    ),
    judgeState: counterMap("numbers the judge keeps between ticks"),
    value: { type: "number", description: "query checks: the value read on the last tick" },
    evidence: obj(
      "counter checks: the statistic over time, for the dashboard's evidence plot",
      {
        reject: { type: "number", description: "the statistic's roll-back boundary" },
        accept: { type: "number", description: "the statistic's accept boundary (sequential tests)" },
        points: {
          type: "array",
          description:
            "[Unix seconds, weight %, canary share of the requests served in the tick, statistic], oldest first, thinned as they grow",
          maxItems: 256,
          items: { type: "array", minItems: 4, maxItems: 4, items: { type: "number", nullable: true } },
        },
      },
      ["points"],
    ),
    decision: analysisDecision,
    reason: str("CamelCase reason for the check's decision", { maxLength: 128 }),
    explanation: { type: "string", description: "the check's words on the last tick", maxLength: 2048 },
  },
  ["name", "kind"],
);

const analysisStatus: Schema = obj(
  "The analysis of the current canary revision: what its checks share, the combined decision, and each check's state.",
  {
    revision: str("the canary revision analysed", { maxLength: 64 }),
    startedAt: timestamp("when analysis of this revision began"),
    lastSampleAt: timestamp("when the checks were last read"),
    passesAtWeight: { type: "integer", description: "passing intervals (every check passing) since the canary weight last changed" },
    weightJudged: { type: "integer", description: "the weight those passes were measured at" },
    weightSince: timestamp("when the canary got that weight"),
    lastConclusiveAt: timestamp("when the last conclusive interval ended"),
    resumedAt: timestamp("when a person last resumed an analysis pause (the no-traffic clock restarts there)"),
    consecutiveErrors: { type: "integer", description: "Prometheus errors in a row" },
    decision: analysisDecision,
    reason: str("CamelCase reason for the decision", { maxLength: 128 }),
    explanation: { type: "string", description: "the deciding check's words, or each check's", maxLength: 4096 },
    decidedBy: str("the check whose verdict decided the last tick", { maxLength: 63 }),
    checks: { type: "array", description: "one entry per check of the policy, in its order", maxItems: 16, items: checkStatus },
  },
  // checks is not required: a status written by an operator older than checks has none, and
  // the analysis restarts from a baseline when it meets one (src/analysis/analysis-tick.ts).
  ["revision", "startedAt"],
);

const rolloutSpec: Schema = obj(
  "What to run and how to release it.",
  {
    replicas: int("Pods of the stable revision. With workloadRef leave it out: the Deployment's replicas (or its HPA) count.", 0, 1000, {
      default: 1,
    }),
    template: podTemplate,
    workloadRef: obj(
      "An existing Deployment to release in place, instead of template: its pod template is the revision to release, and it stays the stable workload. You (and your GitOps tool) keep owning it; Fledge owns only its spec.paused and the fledge.dev/rollout annotation.",
      {
        apiVersion: { type: "string", description: "apps/v1", enum: ["apps/v1"] },
        kind: { type: "string", description: "Deployment", enum: ["Deployment"] },
        name: str("Name of the Deployment, in the Rollout's namespace.", { maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" }),
      },
      ["apiVersion", "kind", "name"],
    ),
    service: obj(
      "The Services the operator creates: <name> (stable) and <name>-canary.",
      {
        port: int("Service port.", 1, 65535),
        targetPort: {
          description: "The pods' port, by number or by name (defaults to port).",
          "x-kubernetes-int-or-string": true,
          // A structural int-or-string allows only the two bare types here; CEL checks the values.
          anyOf: [{ type: "integer" }, { type: "string" }],
          "x-kubernetes-validations": [
            {
              rule: "type(self) == int ? self >= 1 && self <= 65535 : size(self) <= 15 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
              message:
                "targetPort must be a port number from 1 to 65535 or the name of a container port (lower-case letters, digits and '-', at most 15)",
            },
          ],
        },
        portName: str("Name of the Service port.", { maxLength: 15, pattern: DNS_LABEL }),
      },
      ["port"],
    ),
    traffic: obj(
      "How traffic is split.",
      {
        nginx: obj(
          "NGINX Ingress: the operator clones this Ingress as <ingress>-canary with a canary weight; yours is never edited.",
          {
            ingress: str("Name of your Ingress, in the Rollout's namespace, whose backend is Service <rollout name>.", {
              maxLength: 253,
              pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            }),
          },
          ["ingress"],
        ),
        gatewayAPI: obj(
          "Gateway API: your HTTPRoute lists Service <rollout name> and <rollout name>-canary as backendRefs of a rule; the operator sets only those two weights.",
          {
            httpRoute: str("Name of your HTTPRoute (gateway.networking.k8s.io/v1), in the Rollout's namespace.", {
              maxLength: 253,
              pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            }),
            rule: str("Name of the rule to manage (GEP-995); leave out to manage the rules that reference the stable Service.", {
              maxLength: 253,
              pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            }),
          },
          ["httpRoute"],
        ),
      },
      [],
      {
        "x-kubernetes-validations": [
          {
            rule: "(has(self.nginx) ? 1 : 0) + (has(self.gatewayAPI) ? 1 : 0) == 1",
            message: "spec.traffic must set exactly one router: nginx: {ingress} or gatewayAPI: {httpRoute, rule?}",
          },
        ],
      },
    ),
    analysis: obj(
      "The AnalysisPolicy that judges the canary.",
      {
        policy: str("Name of an AnalysisPolicy in the Rollout's namespace.", { pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" }),
        args: {
          ...stringMap("Values substituted for {{key}} in the policy's queries.", 20),
          "x-kubernetes-validations": [
            {
              rule: "self.all(k, k.matches('^[a-zA-Z][a-zA-Z0-9_]*$'))",
              message: "analysis.args keys must be identifiers (letters, digits, _), as used in {{key}}",
            },
          ],
        },
      },
      ["policy"],
    ),
    strategy: obj(
      "The release strategy.",
      {
        canary: obj(
          "Canary steps, run in order after the canary is Available.",
          {
            steps: {
              type: "array",
              description: "At least one step; weights may not decrease.",
              minItems: 1,
              maxItems: 50,
              items: canaryStep,
              "x-kubernetes-validations": [
                {
                  rule: "self.filter(s, has(s.setWeight)).map(s, s.setWeight).isSorted()",
                  message: "setWeight values must not decrease from one step to the next",
                },
                {
                  rule: "self.exists(s, has(s.setWeight) && s.setWeight > 0)",
                  message: "at least one step must send traffic to the canary (setWeight greater than 0)",
                },
              ],
            },
            scaleDownDelaySeconds: int(
              "Seconds the canary keeps its pods after its weight went to 0 (promotion, rollback, abort), while the proxy applies the weight: a real proxy applies a weight a moment after it is written, and a request routed to a pod that is gone fails.",
              0,
              3600,
              { default: 10 },
            ),
          },
          ["steps"],
        ),
      },
      ["canary"],
    ),
    progressDeadlineSeconds: int("Seconds without progress (pauses excluded) before the canary is rolled back.", 10, 86400, {
      default: 600,
    }),

    notifications: obj("Where lifecycle messages go: canary started, approval requested, promoted, rolled back.", {
      slack: obj(
        "One Slack thread per revision in this channel (needs the operator's Slack Secret).",
        { channel: str("Slack channel id, e.g. C0123ABC.", { maxLength: 64, pattern: "^[A-Z0-9]+$" }) },
        ["channel"],
      ),
    }),
  },
  ["service", "traffic", "strategy"],
  {
    "x-kubernetes-validations": [
      {
        rule: "(has(self.template) ? 1 : 0) + (has(self.workloadRef) ? 1 : 0) == 1",
        message:
          "spec must set exactly one of template (a pod template Fledge deploys) or workloadRef (an existing Deployment released in place)",
      },
      {
        rule: "!has(self.workloadRef) || self.replicas == 1",
        message:
          "with workloadRef the Deployment's replicas count: leave spec.replicas out, and scale the Deployment (or point the HorizontalPodAutoscaler at it) instead of the Rollout",
      },
    ],
  },
);

const rolloutStatus: Schema = obj("Where the rollout is. All progress lives here.", {
  observedGeneration: { type: "integer", description: "the spec generation last acted on" },
  phase: {
    type: "string",
    description: "summary for printer columns",
    enum: ["Initializing", "Healthy", "Progressing", "Paused", "Promoting", "Degraded"],
  },
  currentRevision: str("hash of spec.template", { maxLength: 64 }),
  stableRevision: str("revision the stable Deployment runs", { maxLength: 64 }),
  canaryRevision: str("revision under test", { maxLength: 64 }),
  currentStep: { type: "integer", description: "index of the step being run" },
  canaryWeight: { type: "integer", description: "weight on the canary Ingress" },
  stepStartedAt: timestamp("when the current step began"),
  lastProgressAt: timestamp("when the rollout last made progress"),
  rolledBackRevision: str("a revision that was rolled back and is not retried by itself", { maxLength: 64 }),
  canaryDrainingSince: timestamp(
    "when the canary's weight went to 0 with its pods still up (they go after spec.strategy.canary.scaleDownDelaySeconds)",
  ),
  handledAction: str("the action annotation value just applied; kept until the annotation is removed", { maxLength: 1024 }),
  lastAction: obj(
    "the last action a person asked for (fledge.dev/action) and what the operator did with it",
    {
      value: str("the annotation value as written", { maxLength: 1024 }),
      kind: str("promote, promote-full, abort, retry, approve or reject", { maxLength: 32 }),
      outcome: { type: "string", description: "Applied, Waiting or Ignored", enum: ["Applied", "Waiting", "Ignored"] },
      message: { type: "string", description: "what the operator did, or why not", maxLength: 2048 },
      at: timestamp("when the operator handled it"),
    },
    ["value", "kind", "outcome", "message", "at"],
  ),
  promoteRequested: obj(
    "promote asked for at a pause whose analysis had not passed yet",
    { step: { type: "integer", description: "the step index" }, at: timestamp("when promote was asked for") },
    ["step", "at"],
  ),
  headerRoute: headerRoute("the preview route set now"),
  replicas: { type: "integer", description: "pods of the stable Deployment (scale subresource)" },
  selector: str("label selector of the stable pods (scale subresource, for an HPA)", { maxLength: 512 }),
  workload: obj(
    "the Deployment adopted through workloadRef, until it is handed back",
    {
      name: str("its name", { maxLength: 253 }),
      releasingSince: timestamp("when handing it back began (Rollout deleted, or workloadRef removed)"),
    },
    ["name"],
  ),
  analysis: analysisStatus,
  approval: obj(
    "The approval gate pending now, or the last one decided.",
    {
      revision: str("the canary revision the gate is for", { maxLength: 64 }),
      step: { type: "integer", description: "the step index of the gate" },
      token: str("unguessable token a decision must name", { maxLength: 128 }),
      requestedAt: timestamp("when the gate opened"),
      decision: gateDecision,
      decidedBy: str("who decided", { maxLength: 256 }),
      decidedAt: timestamp("when it was decided"),
      slack: obj(
        "the approval message in Slack",
        {
          channel: str("channel id", { maxLength: 64 }),
          ts: str("message ts", { maxLength: 64 }),
          shown: { ...gateDecision, description: "the decision the message was last updated with" },
        },
        ["channel", "ts"],
      ),
      previousMessage: obj(
        "the message of the gate this one replaced, until it has been updated with its outcome",
        {
          channel: str("channel id", { maxLength: 64 }),
          ts: str("message ts", { maxLength: 64 }),
          revision: str("revision of that gate", { maxLength: 64 }),
          step: { type: "integer", description: "step index of that gate" },
          decision: gateDecision,
          decidedBy: str("who decided", { maxLength: 256 }),
        },
        ["channel", "ts", "revision", "step", "decision"],
      ),
    },
    ["revision", "step", "token", "requestedAt"],
  ),
  notifications: obj("Lifecycle notifications not delivered yet, and the Slack thread of the revision.", {
    revision: str("the revision the thread is for", { maxLength: 64 }),
    channel: str("channel id of the thread", { maxLength: 64 }),
    threadTs: str("ts of the thread's first message", { maxLength: 64 }),
    outbox: {
      type: "array",
      description: "written with the move they report; removed once delivered",
      maxItems: 20,
      items: obj(
        "one lifecycle notice",
        {
          id: str("deterministic id (CloudEvents id)", { maxLength: 64 }),
          kind: {
            type: "string",
            description: "what happened",
            enum: ["CanaryStarted", "ApprovalRequested", "Approved", "Rejected", "Promoted", "RolledBack", "DeadlineExceeded"],
          },
          revision: str("the revision it is about", { maxLength: 64 }),
          at: timestamp("when it happened"),
          message: { type: "string", description: "what happened, in words", maxLength: 2048 },
          figures: { type: "string", description: "the analysis figures then", maxLength: 1024 },
          check: { type: "string", description: "the analysis check that rolled the canary back", maxLength: 63 },
          attempts: { type: "integer", description: "failed delivery attempts so far" },
        },
        ["id", "kind", "revision", "at", "message"],
      ),
    },
  }),
  conditions: {
    type: "array",
    description: "Ready (summary), Progressing, AnalysisHealthy, …",
    maxItems: 16,
    items: condition,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
  },
  message: { type: "string", description: "what is happening, in words", maxLength: 4096 },
});

// ----------------------------------------------------------------------- AnalysisPolicy

/** How a counter check (ratio, latency, the errorRate form) is judged. */
const counterJudging: Record<string, Schema> = {
  judge: obj(
    "Exactly one judge.",
    {
      threshold: obj(
        "Argo Rollouts / Flagger style: error ratio per interval against a maximum.",
        {
          maxErrorRate: num("Highest acceptable canary error ratio in one interval (0.01 = 1 %).", 0, 1),
          failureLimit: int("Intervals over the limit tolerated; one more fails the canary.", 0, 100, { default: 0 }),
        },
        ["maxErrorRate"],
      ),
      sequential: obj("A sequential test (SPRT): rolls a bad canary back as soon as the data allow, false rollbacks bounded by alpha.", {
        alpha: {
          ...num("False-rollback probability for the whole rollout, divided among the analysed steps.", 0.0001, 0.5),
          default: 0.01,
        },
        beta: { ...num("Probability of promoting a canary relativeRisk× worse than stable.", 0.0001, 0.5), default: 0.05 },
        relativeRisk: num(
          "Smallest canary/stable error-rate ratio that must not be promoted; leave out for a mixture over 1.5-10.",
          1.01,
          100,
        ),
        minStepDuration: duration("The test may not accept a step before this.", "1s", "24h"),
        maxStepDuration: duration("A step still undecided after this passes, if never rejected and it saw minRequests.", "1s", "24h"),
      }),
    },
    [],
    {
      "x-kubernetes-validations": [
        {
          rule: "(has(self.threshold) ? 1 : 0) + (has(self.sequential) ? 1 : 0) == 1",
          message: "judge must set exactly one judge: threshold or sequential",
        },
      ],
    },
  ),
  slo: obj(
    "An absolute guard beside the comparison: a one-sample SPRT of the canary's error rate against the budget.",
    {
      maxErrorRate: num("The SLO's error budget, e.g. 0.001 for 99.9 % availability.", 0.000001, 0.5),
      burnErrorRate: num("Error rate that must never be promoted (default 14.4 × maxErrorRate, the fast-burn factor).", 0.000001, 0.99),
    },
    ["maxErrorRate"],
    {
      "x-kubernetes-validations": [
        {
          rule: "!has(self.burnErrorRate) || self.burnErrorRate > self.maxErrorRate",
          message: "slo.burnErrorRate must be greater than slo.maxErrorRate",
        },
      ],
    },
  ),
  maxSampleRatioZ: {
    ...num("Stop when the canary's share of requests is this many standard deviations below its weight; 0 turns it off.", 0, 100),
    default: 4,
  },
  minRequests: int("Fewer canary requests than this in an interval make it inconclusive.", 0, 1_000_000, { default: 20 }),
};

const noTraffic: Schema = obj("What to do when intervals stay inconclusive (no or too little traffic).", {
  timeout: duration("How long without a conclusive interval.", "1s", "24h"),
  action: stopAction("Abort rolls back; Pause holds the canary until promoted or aborted."),
});

const analysisPolicySpec: Schema = obj(
  "How to judge a canary from Prometheus.",
  {
    prometheus: obj(
      "Where Prometheus (or a compatible API: Thanos, Mimir, Cortex, VictoriaMetrics) is, and how to authenticate; defaults to the operator's --prometheus-url.",
      {
        address: str("Base URL, http:// or https://, with any path prefix (e.g. https://mimir.example/prometheus).", {
          maxLength: 512,
          pattern: "^https?://[^\\s]+$",
        }),
        headers: {
          type: "array",
          description: "Extra request headers, e.g. X-Scope-OrgID for Mimir/Cortex; each a value or a Secret key.",
          maxItems: 10,
          items: obj(
            "one header",
            {
              name: str("Header name.", { maxLength: 128, pattern: "^[A-Za-z0-9-]+$" }),
              value: str("The value, when it is not a secret.", { maxLength: 1024 }),
              secretKeyRef: secretKeyRef("The Secret key holding the value."),
            },
            ["name"],
            {
              "x-kubernetes-validations": [
                {
                  rule: "(has(self.value) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) == 1",
                  message: "each header needs exactly one of value or secretKeyRef",
                },
                {
                  rule: "self.name.lowerAscii() != 'authorization'",
                  message: "set Authorization with prometheus.auth (bearer or basic), not as a header",
                },
              ],
            },
          ),
        },
        auth: obj(
          "Credentials, from Secrets in the policy's namespace (the operator needs get on exactly those Secrets).",
          {
            bearer: obj("Authorization: Bearer <token>.", { secretKeyRef: secretKeyRef("The Secret key holding the token.") }, [
              "secretKeyRef",
            ]),
            basic: obj(
              "HTTP basic authentication.",
              {
                secretName: str("Secret holding the username and password.", { maxLength: 253, pattern: DNS_SUBDOMAIN }),
                usernameKey: { ...str("Key of the username (default username).", { maxLength: 253 }), default: "username" },
                passwordKey: { ...str("Key of the password (default password).", { maxLength: 253 }), default: "password" },
              },
              ["secretName"],
            ),
          },
          [],
          {
            "x-kubernetes-validations": [
              { rule: "!(has(self.bearer) && has(self.basic))", message: "prometheus.auth takes one of bearer or basic, not both" },
            ],
          },
        ),
        tls: obj("TLS towards an https:// address.", {
          caSecretKeyRef: secretKeyRef("A Secret key holding the PEM CA bundle that signs the server's certificate."),
          clientCertSecretName: str("A kubernetes.io/tls Secret (tls.crt, tls.key) for client-certificate authentication.", {
            maxLength: 253,
            pattern: DNS_SUBDOMAIN,
          }),
          serverName: str("The name to check the server's certificate against, when it differs from the address's host.", {
            maxLength: 253,
          }),
          insecureSkipVerify: { type: "boolean", description: "Do not check the server's certificate (for tests only)." },
        }),
      },
      ["address"],
    ),
    interval: { ...duration("How often the counters are read and judged.", "1s", "10m"), default: "15s" },
    errorRate: obj(
      "The error-rate check of earlier versions (still read): the same as checks: [{name: error-rate, ratio: {total: requests, bad: errors, …}}], with noTraffic inside. Set this or checks.",
      {
        requests: str(
          "PromQL returning request counters (not rates) for one arm; {{service}} is that arm's Service, {{namespace}} the Rollout's.",
          { minLength: 1, maxLength: 2000 },
        ),
        errors: str("PromQL returning error counters for one arm.", { minLength: 1, maxLength: 2000 }),
        ...counterJudging,
        noTraffic,
      },
      ["requests", "errors", "judge"],
    ),
    checks: {
      type: "array",
      description:
        "The checks, judged together every interval: one failing fails the canary, and a step passes only when every check passes. Set this or errorRate.",
      minItems: 1,
      maxItems: 16,
      items: obj(
        "One check: a name and exactly one of ratio, latency or query.",
        {
          name: str("The check's name, in status, conditions and notices.", { maxLength: 63, pattern: DNS_LABEL }),
          ratio: obj(
            "Two COUNTER queries per arm, all events and the bad ones, judged canary against stable.",
            {
              total: str("PromQL returning event counters (not rates) for one arm; {{service}} is that arm's Service.", {
                minLength: 1,
                maxLength: 2000,
              }),
              bad: str("PromQL returning bad-event counters for one arm.", { minLength: 1, maxLength: 2000 }),
              ...counterJudging,
            },
            ["total", "bad", "judge"],
          ),
          latency: obj(
            "The share of requests slower than maxSeconds, from a classic histogram's counters (count less the bucket at maxSeconds), judged canary against stable.",
            {
              histogram: str("The histogram's metric name without _bucket/_count, e.g. traefik_service_request_duration_seconds.", {
                maxLength: 200,
                pattern: "^[a-zA-Z_:][a-zA-Z0-9_:]*$",
              }),
              selector: str('Label matchers for one arm, with {{variables}}, e.g. service=~"{{namespace}}-{{service}}-.*".', {
                maxLength: 1000,
              }),
              maxSeconds: num("The latency a request may take: one of the histogram's bucket bounds.", 0.000001, 3600),
              ...counterJudging,
            },
            ["histogram", "selector", "maxSeconds", "judge"],
          ),
          query: obj(
            "Any PromQL giving one number for the canary ({{service}} is its Service), held against max and/or min each interval.",
            {
              query: str("PromQL returning one number (a scalar, or a vector of one series).", { minLength: 1, maxLength: 2000 }),
              max: { type: "number", description: "Highest acceptable value." },
              min: { type: "number", description: "Lowest acceptable value." },
              failureLimit: int("Intervals out of bounds tolerated (over the whole analysis); one more fails the canary.", 0, 100, {
                default: 0,
              }),
            },
            ["query"],
            {
              "x-kubernetes-validations": [
                { rule: "has(self.max) || has(self.min)", message: "a query check needs max, min or both" },
                { rule: "!has(self.max) || !has(self.min) || self.min <= self.max", message: "query.min must not be above query.max" },
              ],
            },
          ),
        },
        ["name"],
        {
          "x-kubernetes-validations": [
            {
              rule: "(has(self.ratio) ? 1 : 0) + (has(self.latency) ? 1 : 0) + (has(self.query) ? 1 : 0) == 1",
              message: "each check sets exactly one kind: ratio, latency or query",
            },
          ],
        },
      ),
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    },
    noTraffic: { ...noTraffic, description: "With checks: what to do when intervals stay inconclusive (no or too little data)." },
    queryErrors: obj("Prometheus errors: retried, and after `limit` in a row the rollout stops.", {
      limit: int("Consecutive query errors tolerated.", 1, 100, { default: 4 }),
      action: stopAction("Abort rolls back; Pause holds the canary."),
    }),
  },
  [],
  {
    "x-kubernetes-validations": [
      {
        rule: "has(self.checks) != has(self.errorRate)",
        message: "set spec.checks (a list of checks) or the older spec.errorRate, not both",
      },
      {
        rule: "!has(self.errorRate) || !has(self.noTraffic)",
        message: "with spec.errorRate, noTraffic goes inside it (errorRate.noTraffic)",
      },
    ],
  },
);

// ---------------------------------------------------------------------------- the CRDs

interface CrdInput {
  kind: string;
  plural: string;
  shortNames: string[];
  spec: Schema;
  status?: Schema;
  rootRules?: Array<{ rule: string; message: string }>;
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
  printerColumns: Array<{ name: string; type: string; jsonPath: string; description?: string; priority?: number }>;
}

function crd(input: CrdInput) {
  const properties: Record<string, Schema> = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: input.spec,
  };
  if (input.status) properties.status = input.status;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${input.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.kind.toLowerCase(),
        shortNames: input.shortNames,
        categories: ["fledge"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          ...(input.status ? { subresources: { status: {}, ...(input.scale ? { scale: input.scale } : {}) } } : {}),
          additionalPrinterColumns: input.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              required: ["spec"],
              properties,
              ...(input.rootRules ? { "x-kubernetes-validations": input.rootRules } : {}),
            },
          },
        },
      ],
    },
  };
}

export const rolloutCrd = crd({
  kind: "Rollout",
  plural: "rollouts",
  shortNames: ["ro", "fro"],
  spec: rolloutSpec,
  status: rolloutStatus,
  // `kubectl scale rollout` and a HorizontalPodAutoscaler act on spec.replicas (the stable size).
  scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: ".status.selector" },
  rootRules: [
    {
      rule: "!has(self.spec.traffic.nginx) || self.spec.strategy.canary.steps.all(s, !has(s.setHeaderRoute) || !has(s.setHeaderRoute.match) || (size(s.setHeaderRoute.match) == 1))",
      message:
        "with traffic.nginx a setHeaderRoute matches exactly one header (NGINX's canary-by-header); the Gateway API router takes several",
    },
    {
      // <name>-canary must fit in a 63-character DNS label (Service names).
      rule: "size(self.metadata.name) <= 56",
      message: "metadata.name must be at most 56 characters, so that <name>-canary is a valid Service name",
    },
  ],
  printerColumns: [
    { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Step", type: "integer", jsonPath: ".status.currentStep" },
    { name: "Weight", type: "integer", jsonPath: ".status.canaryWeight" },
    { name: "Stable", type: "string", jsonPath: ".status.stableRevision" },
    { name: "Canary", type: "string", jsonPath: ".status.canaryRevision" },
    { name: "Workload", type: "string", jsonPath: ".spec.workloadRef.name", description: "the Deployment released in place" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
  ],
});

export const analysisPolicyCrd = crd({
  kind: "AnalysisPolicy",
  plural: "analysispolicies",
  shortNames: ["ap", "fap"],
  spec: analysisPolicySpec,
  printerColumns: [
    { name: "Interval", type: "string", jsonPath: ".spec.interval" },
    { name: "Max-Error-Rate", type: "number", jsonPath: ".spec.errorRate.judge.threshold.maxErrorRate" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
});

export const allCrds = [rolloutCrd, analysisPolicyCrd];
