# Fledge — the targets people type. Every target runs with Node >= 22: when the machine's
# node is older, scripts/ensure-node.sh brings Node LTS from the npm registry into .tools/.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Before anything else: one message listing every missing tool, instead of a stop after a long build.
ifneq ($(shell scripts/preflight.sh $(or $(MAKECMDGOALS),help) >&2 && echo ok),ok)
$(error stopped before doing anything; install what is listed above)
endif

NODE_BIN_DIR := $(shell scripts/ensure-node.sh)
ifeq ($(NODE_BIN_DIR),)
$(error could not find or install Node >= 22; see the message above from scripts/ensure-node.sh)
endif
export PATH := $(NODE_BIN_DIR):$(PATH)

FLEDGE := node bin/fledge.js
CLUSTER_DIR ?= $(CURDIR)/.fledge/cluster
TEST_CLUSTER_DIR := $(CURDIR)/.fledge/test-cluster
export FLEDGE_TEST_CLUSTER_DIR := $(TEST_CLUSTER_DIR)

.PHONY: test-bins install bench-analysis bench-e2e bench-peers bench-peers-idle bench-scale bench-slack crds help deps build lint format typecheck test test-unit test-integration cluster-bins cluster-up cluster-down demo clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## install the npm dependencies (npm ci)

build: deps ## compile TypeScript into dist/, and bundle the dashboard's page into dist/web
	npx tsc -p tsconfig.build.json
	node scripts/build-web.mjs

typecheck: deps ## type-check sources and tests (and the dashboard's page)
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p web/tsconfig.json

lint: deps typecheck ## biome lint + format check, and the type check
	npx biome check .

format: deps ## rewrite files in the house format
	npx biome check --write .

CLUSTER_COMPONENTS := kubernetes etcd kwok prometheus gateway-api traefik

cluster-bins: ## build kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, Prometheus and Traefik once, fetch the Gateway API CRDs (cached in ~/.cache/fledge)
	@scripts/build-cluster-bins.sh $(CLUSTER_COMPONENTS)

# The tests also render the Helm chart and drive the dashboard in Chromium; the demo needs
# neither, so only these bring them.
test-bins:
	@scripts/build-cluster-bins.sh $(CLUSTER_COMPONENTS) helm
	@scripts/ensure-chromium.sh

cluster-up: build cluster-bins ## start the local cluster + Prometheus on 127.0.0.1 (reuses a running one)
	@$(FLEDGE) cluster up --dir $(CLUSTER_DIR)

cluster-down: build ## stop the local cluster; no process is left behind
	@$(FLEDGE) cluster down --dir $(CLUSTER_DIR)

test-unit: deps ## unit tests (pure logic, no cluster)
	npx vitest run --project unit

# The integration tier starts one local cluster for the whole run (test/integration/global-setup.ts)
# and stops it at the end; the extra `cluster down` also covers a test runner that crashed.
test-integration: build test-bins ## integration tests against a real local cluster + Prometheus
	@rc=0; npx vitest run --project integration || rc=$$?; \
	  $(FLEDGE) cluster down --dir $(TEST_CLUSTER_DIR) >/dev/null 2>&1 || true; exit $$rc

test: build test-bins ## every test: unit, then integration (what CI runs)
	@rc=0; npx vitest run || rc=$$?; \
	  $(FLEDGE) cluster down --dir $(TEST_CLUSTER_DIR) >/dev/null 2>&1 || true; exit $$rc

clean: ## remove build output (keeps the cached cluster binaries)
	rm -rf dist .fledge

crds: build ## regenerate crds/*.yaml (and the Helm chart's copy) from src/api/crd-schema.ts
	$(FLEDGE) crds --out crds operator/helm/fledge/crds

demo: build cluster-bins ## the release story through real Traefik: v1 deployed, v2 previewed then promoted, v3 rolled back (ROUTER=nginx for the Ingress flavour, KEEP=1 keeps it running)
	@$(FLEDGE) demo

bench-analysis: deps ## the analysis grid and perturbations, simulated (writes docs/benchmarks.md)
	npx tsx bench/analysis.ts

bench-e2e: build cluster-bins ## end-to-end timing on the local cluster, sequential vs Argo-style threshold (writes docs/benchmarks.md)
	npx tsx bench/e2e.ts

bench-scale: build cluster-bins ## thousands of Rollouts on the local cluster: memory, CPU, API requests idle; latency, jitter, status writes busy (writes docs/benchmarks.md)
	npx tsx bench/scale.ts

# The peers (Argo Rollouts, Flagger) are built here and only here, never by make demo or make test.
bench-peers: build cluster-bins ## Fledge beside the real Argo Rollouts and Flagger: the same canaries (RUNS, CASES, LANE_MINUTES, LANES_AT_ONCE), then the idle cost of N applications (IDLE_SIZES); writes docs/benchmarks.md
	@scripts/build-cluster-bins.sh argo-rollouts flagger
	npx tsx bench/peers.ts
	npx tsx bench/peers-idle.ts

bench-peers-idle: build cluster-bins ## Only the idle part of bench-peers: N idle applications under each controller (IDLE_SIZES, IDLE_CONTENDERS)
	@scripts/build-cluster-bins.sh argo-rollouts flagger
	npx tsx bench/peers-idle.ts

bench-slack: build cluster-bins ## Slack approval timing on the local cluster: message posted, click acknowledged, next step (writes docs/benchmarks.md)
	npx tsx bench/slack.ts

install: ## apply the install bundle (CRDs, namespace, RBAC, operator Deployment) to the current kubeconfig
	kubectl apply -k operator/base
