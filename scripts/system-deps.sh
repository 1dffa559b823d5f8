#!/usr/bin/env bash
# Debian packages the tests and benchmarks drive as real processes: serf (membership), wrk (HTTP
# load), chromium (the cluster page). Installed with apt when missing and we are root. Without
# root we say what is missing and carry on: the tests that need a missing tool skip with that
# reason (and fail under CI=true, where everything must be present).
set -u
missing=()
for bin in "$@"; do command -v "$bin" >/dev/null || missing+=("$bin"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} with apt" >&2
  apt-get update -qq || true
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    exit 0
  fi
  echo "system-deps: apt could not install ${missing[*]}" >&2
else
  echo "system-deps: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
fi
# Under CI every tool must be there; elsewhere the tests that need one skip and say why.
case "${CI:-}" in 1|true|yes) exit 1 ;; esac
exit 0
