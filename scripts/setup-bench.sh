#!/usr/bin/env bash
# Idempotent set-up for `npm run bench`: the Debian packages the Janus side
# needs, and the small preload library that lets Janus gather ICE candidates
# on loopback (bench/janus-config.ts). Prints nothing when all is present.
#
#   scripts/setup-bench.sh
#
#   janus              Janus 1.1 with the VideoRoom plugin and HTTP transport.
#                      It only ever runs as the benchmark's child process: the
#                      installation starts no service, and a janus installed
#                      here is disabled as a service.
#   gcc, libc6-dev     to build the preload library (a few lines of C).
#   util-linux         taskset, to pin the SFU under test to its CPU.
#   linux-perf         perf, for `npm run bench:profile` (where the worker's time goes).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${FOCI_CACHE_DIR:-$HOME/.cache/foci}
log() { printf '[setup-bench] %s\n' "$*" >&2; }
cd "$root"

mkdir -p "$cache"
exec 9>"$cache/setup-bench.lock"
flock 9

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- Debian packages ---------------------------------------------------------------
missing=()
for p in janus gcc libc6-dev util-linux linux-perf; do
  installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  # A policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d and
  # deb-systemd-invoke from starting any service during the installation.
  # Whatever policy was there is put back afterwards.
  policy=/usr/sbin/policy-rc.d
  backup=""
  if [ -e "$policy" ]; then
    backup=$(mktemp "$cache/policy-rc.d.XXXXXX")
    as_root cp -p "$policy" "$backup"
  fi
  restore_policy() {
    if [ -n "$backup" ]; then
      as_root cp -p "$backup" "$policy"
      rm -f "$backup"
    else
      as_root rm -f "$policy"
    fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# Temporary, from scripts/setup-bench.sh: start no service.\nexit 101\n' | as_root tee "$policy" >/dev/null
  as_root chmod 755 "$policy"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  restore_policy
  trap - EXIT
  # A janus installed here is never a service: not at boot either.
  if printf '%s\n' "${missing[@]}" | grep -qx janus; then
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      as_root systemctl disable --quiet janus.service >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/janus ] && command -v update-rc.d >/dev/null; then
      as_root update-rc.d janus disable >/dev/null 2>&1 || true
    fi
  fi
fi

# --- loopback ICE preload for janus ----------------------------------------------------
# Built once into $cache, keyed by its source (bench/janus-config.ts does the
# same on demand; doing it here keeps a compiler error out of the benchmark).
node_bin=$root/node_modules/.bin/node
[ -x "$node_bin" ] || node_bin=$(command -v node)
FOCI_CACHE_DIR=$cache "$node_bin" --input-type=module \
  -e "await (await import('$root/bench/janus-config.ts')).ensureLoopbackShim();"
