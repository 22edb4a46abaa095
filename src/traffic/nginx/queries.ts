// The counters of ingress-nginx (and of fledge sim, which exports the same names), per arm:
// {{service}} is the arm's Service. Raw counters: the operator takes the differences itself.
export const NGINX_COUNTER_QUERIES = {
  requests: 'nginx_ingress_controller_requests{namespace="{{namespace}}",service="{{service}}"}',
  errors: 'nginx_ingress_controller_requests{namespace="{{namespace}}",service="{{service}}",status=~"5.."}',
} as const;
