#!/usr/bin/env bash
# Prints the directory holding the `node` that Fledge must use, installing Node LTS from the
# npm registry into .tools/ first when the machine's node is older than 22.
# Why: @kubernetes/client-node 2.x (undici 8) crashes at import on Node 20, and these
# machines reach the npm registry but not nodejs.org. The registry's node-linux-<arch>
# package carries the official binary; `npm pack` fetches it without running any script.
# The machine's npm is kept: it runs on whichever node is first on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$root/scripts/versions.env"

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if command -v node >/dev/null 2>&1 && [ "$(major_of node)" -ge 22 ] && [ -z "${FLEDGE_FORCE_TOOLS_NODE:-}" ]; then
  dirname "$(command -v node)"
  exit 0
fi

dest="$root/.tools/node-$NODE_VERSION"
if [ ! -x "$dest/bin/node" ]; then
  command -v npm >/dev/null 2>&1 || { echo "fledge: npm is needed to fetch Node $NODE_VERSION (apt-get install npm) and retry." >&2; exit 1; }
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "fledge: no Node package for $(uname -m); install Node >= 22 yourself and retry." >&2; exit 1 ;;
  esac
  echo "fledge: the machine's node is older than 22; fetching node-linux-$arch@$NODE_VERSION from the npm registry into .tools/" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE_VERSION" >/dev/null) \
    || { echo "fledge: could not fetch node-linux-$arch@$NODE_VERSION from the npm registry; check access to it and retry." >&2; exit 1; }
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-*.tgz -C "$tmp/x"
  mkdir -p "$root/.tools" && rm -rf "$dest" && mv "$tmp/x/package" "$dest"
fi
"$dest/bin/node" --version >/dev/null || { echo "fledge: $dest/bin/node does not run on this machine" >&2; exit 1; }
echo "$dest/bin"
