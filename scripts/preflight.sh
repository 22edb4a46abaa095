#!/usr/bin/env bash
# Runs before anything else a make target does, so that a missing tool stops the target at
# once — not after a 10-minute build — with one message that lists everything missing.
# What the README asks of the machine (git, make, a Go toolchain, npm) is only checked; what
# only the system package manager has (openssl, used to make the local cluster's certificates)
# is installed when running as root, and otherwise named with the command that installs it.
# Usage: preflight.sh <make goal …>   Prints nothing when all is there.
set -uo pipefail

goals=("$@")
[ ${#goals[@]} -gt 0 ] || goals=(help)
needs_cluster=false
for g in "${goals[@]}"; do
  case "$g" in
    demo | test | test-integration | cluster-up | cluster-bins | bench-e2e | bench-slack) needs_cluster=true ;;
  esac
done

missing=()   # lines of the message
apt=()       # Debian packages we may install ourselves
command -v npm >/dev/null 2>&1 || missing+=("npm (Node's package manager): apt-get install npm, or install Node.js >= 22 with npm")
if $needs_cluster; then
  if ! command -v go >/dev/null 2>&1; then
    missing+=("a Go toolchain >= 1.25 (the local cluster is built from Go modules): see https://go.dev/doc/install (Debian 12's golang-go is too old)")
  else
    gov="$(go env GOVERSION 2>/dev/null | sed -E 's/^go([0-9]+)\.([0-9]+).*/\1 \2/')"
    read -r gomaj gomin <<<"${gov:-0 0}"
    if [ "${gomaj:-0}" -lt 1 ] || { [ "${gomaj:-0}" -eq 1 ] && [ "${gomin:-0}" -lt 25 ]; }; then
      missing+=("a Go toolchain >= 1.25 (found $(go env GOVERSION)): install a newer Go, or set GOTOOLCHAIN=auto so go fetches one from the module proxy")
    fi
  fi
  command -v openssl >/dev/null 2>&1 || apt+=(openssl)
  command -v tar >/dev/null 2>&1 || apt+=(tar)
  # The real data plane's sealed network namespace (ip, unshare, nsenter). It needs root; without
  # root the local cluster says so once and pretends to route instead, so this is no stop.
  if [ "$(id -u)" -eq 0 ]; then
    command -v ip >/dev/null 2>&1 || apt+=(iproute2)
    command -v unshare >/dev/null 2>&1 || apt+=(util-linux)
  fi
fi

if [ ${#apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fledge: installing ${apt[*]} with apt-get (running as root)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${apt[@]}" >/dev/null 2>&1; then
      apt=()
    else
      echo "fledge: apt-get install ${apt[*]} failed" >&2
    fi
  fi
  for p in "${apt[@]}"; do missing+=("$p: sudo apt-get install $p"); done
fi

if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "fledge: this machine lacks what 'make ${goals[*]}' needs; nothing was started or built:"
    for m in "${missing[@]}"; do echo "  - $m"; done
    echo "fledge: install the above, then run 'make ${goals[*]}' again."
  } >&2
  exit 1
fi
exit 0
