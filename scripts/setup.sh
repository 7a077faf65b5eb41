#!/usr/bin/env bash
# Idempotent set-up, called by `npm start` (runtime) and `npm test` (test).
# Every step checks before it acts, so a second run takes about a second.
#
#   scripts/setup.sh [runtime|test]
#
#   runtime  npm dependencies (with Node 24 from the npm registry) and the
#            mediasoup worker.
#   test     runtime, plus Debian's Chromium and Firefox ESR for the end-to-end tests.
set -euo pipefail

mode=${1:-test}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${FOCI_CACHE_DIR:-$HOME/.cache/foci}
log() { printf '[setup] %s\n' "$*" >&2; }
cd "$root"

# One set-up at a time per machine: two at once would share the build dirs.
mkdir -p "$cache"
exec 9>"$cache/setup.lock"
flock 9

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() { # packages missing from the machine, installed in one go
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --- npm dependencies ------------------------------------------------------------
# npm does not run mediasoup's postinstall (it downloads a prebuilt worker); the
# worker is provisioned below instead. The stamp makes a second run a no-op.
lock_hash=$(sha256sum package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)
if [ "$(cat node_modules/.foci-installed 2>/dev/null)" != "$lock_hash" ]; then
  log "installing npm dependencies"
  if [ -f package-lock.json ]; then
    MEDIASOUP_WORKER_BIN=provisioned-by-setup npm ci --no-audit --no-fund >&2
  else
    MEDIASOUP_WORKER_BIN=provisioned-by-setup npm install --no-audit --no-fund >&2
  fi
  echo "$lock_hash" >node_modules/.foci-installed
fi
node_bin=$root/node_modules/.bin/node
[ -x "$node_bin" ] || node_bin=$(command -v node)
# mediasoup 3.27 needs Node >= 22, and src/*.ts runs through Node's own type
# stripping (22.18+, on by default).
if [ "$("$node_bin" -p 'Boolean(process.features.typescript) && +process.versions.node.split(".")[0] >= 22')" != true ]; then
  log "$("$node_bin" --version) is too old (need >= 22.18) and no Node binary came with npm install"
  exit 1
fi

# --- mediasoup worker --------------------------------------------------------------
# The normal prebuilt where it can be downloaded; otherwise the offline build of
# scripts/mediasoup-worker, cached outside the clone keyed by mediasoup version
# and a hash of the build recipe, and linked to where mediasoup looks for it.
ms_dir=$root/node_modules/mediasoup
ms_version=$("$node_bin" -p "require('$ms_dir/package.json').version")
worker_link=$ms_dir/worker/out/Release/mediasoup-worker
worker_ok() { # a worker run without its env exits 41 (see mediasoup's main.cpp)
  [ -x "$1" ] || return 1
  local rc=0
  env -i "$1" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 41 ]
}
recipe_hash=$(cd scripts/mediasoup-worker && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
cached_worker=$cache/mediasoup-worker-$ms_version-$recipe_hash/mediasoup-worker
if ! worker_ok "$worker_link"; then
  if [ "${FOCI_TRY_PREBUILT_WORKER:-1}" = 1 ] && ! worker_ok "$cached_worker"; then
    mkdir -p "$cache"
    log "trying mediasoup's prebuilt worker download"
    # PYTHON=false makes mediasoup's own fallback (a meson build that downloads
    # its subprojects) fail at once; the offline build below replaces it.
    (cd "$ms_dir" && PYTHON=false timeout 120 "$node_bin" npm-scripts.mjs postinstall) >"$cache/prebuilt-download.log" 2>&1 || true
  fi
  if ! worker_ok "$worker_link"; then
    if ! worker_ok "$cached_worker"; then
      log "no prebuilt worker here: building mediasoup-worker $ms_version offline (about 8 minutes, once)"
      mkdir -p "$cache"
      PATH="$(dirname "$node_bin"):$PATH" bash scripts/mediasoup-worker/build.sh "$ms_dir" "$(dirname "$cached_worker")" >/dev/null
      worker_ok "$cached_worker" || { log "the built worker does not run"; exit 1; }
    fi
    mkdir -p "$(dirname "$worker_link")"
    ln -sfn "$cached_worker" "$worker_link"
    log "mediasoup worker: $cached_worker"
  fi
fi

[ "$mode" = runtime ] && exit 0

# --- test tools --------------------------------------------------------------------
apt_install chromium firefox-esr
# The benchmark smoke test compares with Janus, as `npm run bench` does.
bash "$root/scripts/setup-bench.sh"
exit 0
