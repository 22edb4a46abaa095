#!/usr/bin/env bash
# Builds the local cluster's binaries from Go modules, once per machine, into a cache outside
# the repository keyed by version:
#   $FLEDGE_CACHE/bin/kubernetes-<v>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $FLEDGE_CACHE/bin/etcd-<v>/etcd
#   $FLEDGE_CACHE/bin/kwok-<v>/kwok
#   $FLEDGE_CACHE/bin/prometheus-<v>/prometheus
#   $FLEDGE_CACHE/bin/helm-<v>/helm          (only to test the Helm chart)
#   $FLEDGE_CACHE/bin/gateway-api-<v>/crds/*.yaml  (the Gateway API's standard-channel CRDs)
#   $FLEDGE_CACHE/bin/traefik-<v>/traefik    (the real data plane; see shared design traffic.md)
#   $FLEDGE_CACHE/bin/argo-rollouts-<v>/{rollouts-controller,crds/*.yaml}   (only for make bench-peers)
#   $FLEDGE_CACHE/bin/flagger-<v>/{flagger,crd.yaml}                       (only for make bench-peers)
# Usage: build-cluster-bins.sh [component …]   (default: the cluster: kubernetes etcd kwok prometheus gateway-api traefik)
# A finished build leaves a .complete marker; a rerun with the marker present does nothing.
# Why wrapper modules: k8s.io/kubernetes and etcd's server module use `replace` directives,
# so `go install module@version` is refused; a throwaway module that pins every replaced
# sibling module to the matching published version builds the same code.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${FLEDGE_CACHE:-$HOME/.cache/fledge}"
work="$cache/build"
mkdir -p "$work"

fail() {
  echo "fledge: building the local cluster failed: $1" >&2
  echo "fledge: fix the cause above, then rerun 'make cluster-bins' (finished parts are kept in $cache/bin)." >&2
  exit 1
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubernetes etcd kwok prometheus gateway-api traefik)

# component → version, output folder, and a rough cold-build time on 2 cores (measured here)
version_of() {
  case "$1" in
    kubernetes) echo "$KUBERNETES_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    prometheus) echo "$PROMETHEUS_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    traefik) echo "$TRAEFIK_VERSION" ;;
    gateway-api) echo "$GATEWAY_API_VERSION" ;;
    argo-rollouts) echo "$ARGO_ROLLOUTS_VERSION" ;;
    flagger) echo "$FLAGGER_VERSION" ;;
    *) fail "unknown component '$1' (known: kubernetes etcd kwok prometheus gateway-api helm traefik argo-rollouts flagger)" ;;
  esac
}
minutes_of() {
  case "$1" in
    kubernetes) echo 10 ;;
    etcd) echo 1 ;;
    kwok) echo 2 ;;
    prometheus) echo 4 ;;
    helm) echo 2 ;;
    traefik) echo 13 ;;
    gateway-api) echo 1 ;;
    argo-rollouts) echo 12 ;;
    flagger) echo 6 ;;
  esac
}
out_of() { echo "$cache/bin/$1-$(version_of "$1")"; }

missing=()
total=0
for c in "${components[@]}"; do
  if [ ! -f "$(out_of "$c")/.complete" ]; then
    missing+=("$c")
    total=$(( total + $(minutes_of "$c") ))
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

command -v go >/dev/null 2>&1 || fail "no Go toolchain on PATH. Install Go >= 1.25 (apt-get install golang, or https://go.dev/doc/install) and retry."
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"
# A quick probe so an unreachable proxy says so at once instead of failing deep in a build.
if ! timeout 60 go list -m -json "sigs.k8s.io/kwok@${KWOK_VERSION}" >/dev/null 2>"$work/probe.err"; then
  cat "$work/probe.err" >&2
  fail "the Go module proxy ($(go env GOPROXY)) did not answer. Check network access to it, or set GOPROXY, and retry."
fi

echo "fledge: first run on this machine: building ${missing[*]} from Go modules (about $total min on 2 cores with a cold Go cache)."
echo "fledge: they are cached in $cache/bin and never rebuilt for the same version."

# run_step <component> <command…>: runs one build step, its output to a log, with a line of
# progress every 30 s so a long first build never looks hung.
run_step() {
  local component="$1" log="$work/$1.log" started pid rc
  shift
  started=$(date +%s)
  "$@" >>"$log" 2>&1 &
  pid=$!
  (
    while sleep 30; do
      kill -0 "$pid" 2>/dev/null || exit 0
      echo "fledge:   … still building $component ($(( $(date +%s) - started )) s so far; log: $log)"
    done
  ) &
  local ticker=$!
  rc=0
  wait "$pid" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$log" >&2
    return "$rc"
  fi
}

# pin_replaced_siblings <wrapper dir> <module path> <version> <sibling prefix regex> <sibling version>
# Adds a replace for every sibling module the target's go.mod requires at a placeholder version.
pin_replaced_siblings() {
  local dir="$1" mod="$2" ver="$3" prefix="$4" sibver="$5" gomod
  gomod="$(cd "$dir" && go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || fail "could not download the go.mod of $mod@$ver"
  # replace lines look like `k8s.io/api => ./staging/src/k8s.io/api` or `go.etcd.io/etcd/api/v3 => ../api`
  { grep -E "^[[:space:]]*(replace[[:space:]]+)?${prefix}[^ ]* => \.\.?/" "$gomod" || true; } \
    | sed -E 's/^[[:space:]]*(replace[[:space:]]+)?//' | awk '{print $1}' | sort -u | while read -r sib; do
    (cd "$dir" && go mod edit -replace "$sib=$sib@$sibver")
  done
}

build_kubernetes() {
  local out dir="$work/kubernetes-$KUBERNETES_VERSION"
  out="$(out_of kubernetes)"
  rm -rf "$dir" && mkdir -p "$dir" "$out"
  (cd "$dir" && go mod init fledge.local/build/kubernetes >/dev/null 2>&1)
  local staging="v0.${KUBERNETES_VERSION#v1.}"
  pin_replaced_siblings "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION" 'k8s\.io/' "$staging"
  local cmds=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  run_step kubernetes bash -c "cd '$dir' && go get ${cmds[*]/%/@$KUBERNETES_VERSION}" || fail "go get k8s.io/kubernetes@$KUBERNETES_VERSION"
  run_step kubernetes bash -c "cd '$dir' && go build -trimpath -ldflags '-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION' -o '$out/' ${cmds[*]}" \
    || fail "go build of Kubernetes $KUBERNETES_VERSION"
}

build_etcd() {
  local out dir="$work/etcd-$ETCD_VERSION"
  out="$(out_of etcd)"
  rm -rf "$dir" && mkdir -p "$dir" "$out"
  (cd "$dir" && go mod init fledge.local/build/etcd >/dev/null 2>&1)
  pin_replaced_siblings "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" 'go\.etcd\.io/etcd/' "$ETCD_VERSION"
  run_step etcd bash -c "cd '$dir' && go get go.etcd.io/etcd/server/v3@$ETCD_VERSION" || fail "go get etcd $ETCD_VERSION"
  run_step etcd bash -c "cd '$dir' && go build -trimpath -ldflags '-s -w' -o '$out/etcd' go.etcd.io/etcd/server/v3" || fail "go build of etcd $ETCD_VERSION"
}

build_kwok() {
  local out
  out="$(out_of kwok)"
  mkdir -p "$out"
  run_step kwok env GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" || fail "go install kwok $KWOK_VERSION"
}

# Prometheus 3.x is published as Go module versions v0.3MM.P (3.MM.P). Its go.mod has no
# replace directives, so `go install` works. Built without the `builtinassets` tag: the web
# UI is not embedded (its assets need a JavaScript build); the HTTP API, which is all Fledge
# uses, is complete. `remove_all_sd` leaves out the cloud service discoveries (AWS, Azure,
# GCE, Kubernetes, …; their SDKs doubled the cold build) and keeps file_sd, which the local
# cluster uses. The -X flags give `prometheus --version` and /api/v1/status/buildinfo the
# release's version.
build_prometheus() {
  local out
  out="$(out_of prometheus)"
  mkdir -p "$out"
  local minor="${PROMETHEUS_VERSION#v0.}" release
  release="3.$((10#${minor%%.*} - 300)).${minor#*.}"
  run_step prometheus env GOBIN="$out" go install -trimpath -tags remove_all_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=release -X github.com/prometheus/common/version.Revision=$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" || fail "go install prometheus $PROMETHEUS_VERSION"
}

# Traefik's go.mod has replace directives (`go install` is refused): a wrapper module requires
# it, copies its two fork replaces and its exclude, and satisfies its nested module
# github.com/traefik/traefik/dynamic/ext (not published on its own) with a local stand-in of
# the two empty structs that module declares.
build_traefik() {
  local out dir="$work/traefik-$TRAEFIK_VERSION" gomod
  out="$(out_of traefik)"
  rm -rf "$dir" && mkdir -p "$dir/ext" "$out"
  (cd "$dir" && go mod init fledge.local/build/traefik >/dev/null 2>&1)
  printf 'module github.com/traefik/traefik/dynamic/ext\n\ngo 1.22\n' >"$dir/ext/go.mod"
  printf '// Package ext stands in for Traefik'"'"'s nested module of extension points (empty in upstream builds).\npackage ext\n\n// HTTP is inlined into the dynamic HTTP configuration.\ntype HTTP struct{}\n\n// Router is inlined into each router.\ntype Router struct{}\n' >"$dir/ext/ext.go"
  gomod="$(cd "$dir" && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || fail "could not download the go.mod of traefik $TRAEFIK_VERSION"
  (cd "$dir" && go mod edit -replace "github.com/traefik/traefik/dynamic/ext=./ext")
  # the fork replaces: `github.com/x/y => github.com/fork/y vX` (the local ./pkg one is ours above)
  { grep -E "^[[:space:]]*(replace[[:space:]]+)?[^ ]+ => [^ .][^ ]* v[^ ]+" "$gomod" || true; } \
    | sed -E 's/^[[:space:]]*(replace[[:space:]]+)?//' | while read -r from _ to ver; do
    (cd "$dir" && go mod edit -replace "$from=$to@$ver")
  done
  { grep -E "^exclude [^ (]+ [^ ]+" "$gomod" || true; } | while read -r _ mod ver; do
    (cd "$dir" && go mod edit -exclude "$mod@$ver")
  done
  run_step traefik bash -c "cd '$dir' && go get github.com/traefik/traefik/v3/cmd/traefik@$TRAEFIK_VERSION" || fail "go get traefik $TRAEFIK_VERSION"
  run_step traefik bash -c "cd '$dir' && go build -trimpath -ldflags '-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION#v}' -o '$out/traefik' github.com/traefik/traefik/v3/cmd/traefik" \
    || fail "go build of traefik $TRAEFIK_VERSION"
}

# Not a binary: the standard-channel CRDs ship in the Go module sigs.k8s.io/gateway-api.
build_gateway-api() {
  local out dir
  out="$(out_of gateway-api)"
  mkdir -p "$out/crds"
  dir="$(cd "$work" && go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -d "$dir/config/crd/standard" ] || fail "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/standard"
  cp "$dir"/config/crd/standard/*.yaml "$out/crds/"
  chmod u+w "$out"/crds/*.yaml
}

build_helm() {
  local out
  out="$(out_of helm)"
  mkdir -p "$out"
  run_step helm env GOBIN="$out" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || fail "go install helm $HELM_VERSION"
}

# Argo Rollouts pins its k8s.io/* (and two forks) with versioned replace directives, which
# `go install` refuses: a wrapper module copies every one of them and builds the same code. Its
# CRDs ship in the same module (manifests/crds).
build_argo-rollouts() {
  local out dir="$work/argo-rollouts-$ARGO_ROLLOUTS_VERSION" gomod moddir
  out="$(out_of argo-rollouts)"
  rm -rf "$dir" && mkdir -p "$dir" "$out/crds"
  (cd "$dir" && go mod init fledge.local/build/argo-rollouts >/dev/null 2>&1)
  # `|| true`: a refused download (say, a newer Go asked for) must reach the message below, not
  # end the script silently under `set -e`.
  gomod="$(cd "$dir" && { go mod download -json "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" || true; } | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$gomod" ] || fail "could not download the go.mod of argo-rollouts $ARGO_ROLLOUTS_VERSION (go mod download -json github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION says why)"
  # `a => b vX` inside a replace block or on a replace line (none of them is a local path)
  { grep -E "^[[:space:]]*(replace[[:space:]]+)?[^ ]+ => [^ .][^ ]* v[^ ]+" "$gomod" || true; } \
    | sed -E 's/^[[:space:]]*(replace[[:space:]]+)?//' | while read -r from _ to ver; do
    (cd "$dir" && go mod edit -replace "$from=$to@$ver")
  done
  run_step argo-rollouts bash -c "cd '$dir' && go get github.com/argoproj/argo-rollouts/cmd/rollouts-controller@$ARGO_ROLLOUTS_VERSION" \
    || fail "go get argo-rollouts $ARGO_ROLLOUTS_VERSION"
  run_step argo-rollouts bash -c "cd '$dir' && go build -trimpath -ldflags '-s -w' -o '$out/rollouts-controller' github.com/argoproj/argo-rollouts/cmd/rollouts-controller" \
    || fail "go build of argo-rollouts $ARGO_ROLLOUTS_VERSION"
  moddir="$(cd "$dir" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-rollouts)"
  [ -d "$moddir/manifests/crds" ] || fail "argo-rollouts $ARGO_ROLLOUTS_VERSION has no manifests/crds"
  cp "$moddir"/manifests/crds/*.yaml "$out/crds/" && chmod u+w "$out"/crds/*.yaml
}

# Flagger's go.mod has no replace directives: `go install` works. Its CRDs are in the module.
build_flagger() {
  local out dir
  out="$(out_of flagger)"
  mkdir -p "$out"
  run_step flagger env GOBIN="$out" go install -trimpath -ldflags "-s -w" "github.com/fluxcd/flagger/cmd/flagger@$FLAGGER_VERSION" || fail "go install flagger $FLAGGER_VERSION"
  dir="$(cd "$work" && go mod download -json "github.com/fluxcd/flagger@$FLAGGER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$dir/artifacts/flagger/crd.yaml" ] || fail "flagger $FLAGGER_VERSION has no artifacts/flagger/crd.yaml"
  cp "$dir/artifacts/flagger/crd.yaml" "$out/crd.yaml" && chmod u+w "$out/crd.yaml"
}

all_start=$(date +%s)
for c in "${missing[@]}"; do
  start=$(date +%s)
  echo "fledge: building $c $(version_of "$c") (about $(minutes_of "$c") min cold)"
  : >"$work/$c.log"
  "build_$c"
  touch "$(out_of "$c")/.complete"
  echo "fledge: built $c $(version_of "$c") in $(( $(date +%s) - start )) s → $(out_of "$c")"
done
echo "fledge: binaries ready in $cache/bin ($(( $(date +%s) - all_start )) s)"
