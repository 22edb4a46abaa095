#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules, once per machine, into a cache
# outside the repository keyed by version:
#   $FLEDGE_CACHE/bin/kubernetes-<v>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $FLEDGE_CACHE/bin/etcd-<v>/etcd
#   $FLEDGE_CACHE/bin/kwok-<v>/kwok
#   $FLEDGE_CACHE/bin/helm-<v>/helm
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

command -v go >/dev/null 2>&1 || fail "no Go toolchain on PATH. Install Go >= 1.25 (https://go.dev/doc/install or apt-get install golang) and retry."
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"
# A quick probe so an unreachable proxy says so at once instead of failing deep in a build.
if ! timeout 60 go list -m -json "sigs.k8s.io/kwok@${KWOK_VERSION}" >/dev/null 2>"$work/probe.err"; then
  cat "$work/probe.err" >&2
  fail "the Go module proxy ($(go env GOPROXY)) did not answer. Check network access to it, or set GOPROXY, and retry."
fi

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
  local out="$cache/bin/kubernetes-$KUBERNETES_VERSION" dir="$work/kubernetes-$KUBERNETES_VERSION"
  [ -f "$out/.complete" ] && return 0
  echo "fledge: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBERNETES_VERSION (first time: 10-25 min on 2 cores)"
  rm -rf "$dir" && mkdir -p "$dir" "$out"
  (cd "$dir" && go mod init fledge.local/build/kubernetes >/dev/null 2>&1)
  local staging="v0.${KUBERNETES_VERSION#v1.}"
  pin_replaced_siblings "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION" 'k8s\.io/' "$staging"
  local cmds=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  (cd "$dir" && go get "${cmds[@]/%/@$KUBERNETES_VERSION}") || fail "go get k8s.io/kubernetes@$KUBERNETES_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION" -o "$out/" "${cmds[@]}") || fail "go build of Kubernetes $KUBERNETES_VERSION"
  touch "$out/.complete"
}

build_etcd() {
  local out="$cache/bin/etcd-$ETCD_VERSION" dir="$work/etcd-$ETCD_VERSION"
  [ -f "$out/.complete" ] && return 0
  echo "fledge: building etcd $ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" "$out"
  (cd "$dir" && go mod init fledge.local/build/etcd >/dev/null 2>&1)
  pin_replaced_siblings "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" 'go\.etcd\.io/etcd/' "$ETCD_VERSION"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION") || fail "go get etcd $ETCD_VERSION"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3) || fail "go build of etcd $ETCD_VERSION"
  touch "$out/.complete"
}

build_kwok() {
  local out="$cache/bin/kwok-$KWOK_VERSION"
  [ -f "$out/.complete" ] && return 0
  echo "fledge: building kwok $KWOK_VERSION"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" || fail "go install kwok $KWOK_VERSION"
  touch "$out/.complete"
}

build_helm() {
  local out="$cache/bin/helm-$HELM_VERSION"
  [ -f "$out/.complete" ] && return 0
  echo "fledge: building helm $HELM_VERSION (to test the chart)"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || fail "go install helm $HELM_VERSION"
  touch "$out/.complete"
}

start=$(date +%s)
build_etcd
build_kwok
build_helm
build_kubernetes
echo "fledge: cluster binaries ready in $cache/bin ($(( $(date +%s) - start )) s)"
