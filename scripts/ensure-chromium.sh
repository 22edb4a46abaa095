#!/usr/bin/env bash
# The dashboard's browser tests drive Debian's Chromium (playwright-core cannot download a browser
# here). Installs it on a fresh machine when we may (root with apt-get), otherwise says how.
set -euo pipefail
chromium="${FLEDGE_CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fledge: installing Debian's chromium for the dashboard's browser tests (apt-get install chromium)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
  [ -x "$chromium" ] && exit 0
fi
echo "fledge: no Chromium at $chromium for the dashboard's browser tests. Install it (sudo apt-get install chromium) or set FLEDGE_CHROMIUM to a Chromium binary, and retry." >&2
exit 1
