#!/usr/bin/env bash
# Debian packages the tests and benchmarks drive as real processes: serf (membership) and wrk
# (HTTP load). Installed with apt when missing and we are root; otherwise say what is missing.
set -euo pipefail
missing=()
for bin in "$@"; do command -v "$bin" >/dev/null || missing+=("$bin"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} with apt" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "system-deps: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
