// Traefik as the local data plane: its static configuration, and the cluster objects that make
// it the controller of the Gateway API and of NGINX-annotated Ingresses (the kubernetesGateway
// and kubernetesIngressNGINX providers of one proxy, so both Fledge routers meet the same
// proxy). Pure: src/dataplane/inside.ts writes the file and starts the binary.
import { stringify } from "yaml";

export const GATEWAY_CONTROLLER = "traefik.io/gateway-controller";
export const GATEWAY_CLASS = "traefik";
/** The Gateway every local route attaches to (`parentRefs: [{name: fledge, namespace: fledge-gateway}]`). */
export const GATEWAY = { namespace: "fledge-gateway", name: "fledge", listener: "web" } as const;
/** ingress-nginx's class and controller names, which Traefik's kubernetesIngressNGINX provider serves. */
export const INGRESS_CLASS = "nginx";
export const INGRESS_CONTROLLER = "k8s.io/ingress-nginx";

export interface TraefikPorts {
  /** The HTTP entry point (and the Gateway listener's port: Traefik matches them by port). */
  web: number;
  /** /metrics and /ping. */
  metrics: number;
}

/** Latency buckets for traefik_service_request_duration_seconds; Traefik's defaults (0.1/0.3/1.2/5 s)
 * cannot tell a 20 ms service from a 90 ms one. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function traefikStaticConfig(ports: TraefikPorts, accessLogFile?: string): string {
  return stringify({
    // Inside the sealed namespace nothing outside answers anyway; ask it not to try.
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    entryPoints: {
      web: { address: `127.0.0.1:${ports.web}` },
      metrics: { address: `127.0.0.1:${ports.metrics}` },
    },
    ping: { entryPoint: "metrics" },
    metrics: {
      prometheus: { entryPoint: "metrics", addServicesLabels: true, addEntryPointsLabels: true, buckets: DURATION_BUCKETS },
    },
    providers: {
      // The API server is reached through $KUBECONFIG (a forwarder inside the namespace).
      kubernetesGateway: {},
      kubernetesIngressNGINX: { ingressClass: INGRESS_CLASS, controllerClass: INGRESS_CONTROLLER },
    },
    log: { level: "INFO", noColor: true },
    // Only the requests that failed: what the proxy did, when a test or the demo asks why.
    ...(accessLogFile ? { accessLog: { filePath: accessLogFile, format: "json", filters: { statusCodes: ["404", "500-599"] } } } : {}),
  });
}

/** GatewayClass, the Gateway's namespace and Gateway, and the IngressClass, as kubectl input. */
export function dataPlaneObjects(ports: TraefikPorts): object[] {
  return [
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: GATEWAY_CLASS },
      spec: { controllerName: GATEWAY_CONTROLLER },
    },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: GATEWAY.namespace } },
    {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: GATEWAY.name, namespace: GATEWAY.namespace },
      spec: {
        gatewayClassName: GATEWAY_CLASS,
        listeners: [{ name: GATEWAY.listener, port: ports.web, protocol: "HTTP", allowedRoutes: { namespaces: { from: "All" } } }],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: INGRESS_CLASS },
      spec: { controller: INGRESS_CONTROLLER },
    },
  ];
}

/** Traefik's per-backend counters for each Fledge router, as the policies in policies/traefik-*.yaml
 * use them. The Gateway provider names a backend `<ns>-<Service>-http-<port>@kubernetesgateway`;
 * the Ingress-NGINX provider names both arms after the main Ingress and the stable Service, the
 * canary with a `-canary` suffix (hence {{trackSuffix}}). */
export const TRAEFIK_QUERIES = {
  gatewayAPI: {
    requests: 'traefik_service_requests_total{service=~"{{namespace}}-{{service}}-http-[0-9]+@kubernetesgateway"}',
    errors: 'traefik_service_requests_total{service=~"{{namespace}}-{{service}}-http-[0-9]+@kubernetesgateway",code=~"5.."}',
  },
  nginx: {
    requests:
      'traefik_service_requests_total{service=~"{{namespace}}-{{ingress}}-{{stableService}}-[0-9]+{{trackSuffix}}@kubernetesingressnginx"}',
    errors:
      'traefik_service_requests_total{service=~"{{namespace}}-{{ingress}}-{{stableService}}-[0-9]+{{trackSuffix}}@kubernetesingressnginx",code=~"5.."}',
  },
} as const;
