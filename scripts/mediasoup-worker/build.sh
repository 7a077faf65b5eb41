#!/usr/bin/env bash
# Builds the mediasoup-worker binary offline from the npm package's own worker/
# sources, against Debian's libraries, and prints the path of the cached binary.
#
#   scripts/mediasoup-worker/build.sh <mediasoup package dir> <output dir>
#
# Why: mediasoup's postinstall downloads a prebuilt worker, and its fallback
# meson build downloads its subprojects; neither works on a machine that only
# reaches the npm registry and Debian's archives. Each meson subproject is
# replaced by a directory (named as the .wrap expects, so meson never
# downloads) whose meson.build points at a Debian library or a Debian source
# package built here. Two small patches (patches/) adapt the worker.
set -euo pipefail

pkg_dir=$(cd "$1" && pwd)
out_dir=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(node -p "require('$pkg_dir/package.json').version")
work=${FOCI_CACHE_DIR:-$HOME/.cache/foci}/mediasoup-build-$version
log() { printf '[mediasoup-worker] %s\n' "$*" >&2; }

mkdir -p "$work" "$out_dir"

# --- Build tools and libraries from Debian -----------------------------------
need_pkgs=(build-essential cmake pkg-config ninja-build libuv1-dev libssl-dev libabsl-dev dpkg-dev python3)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  sudo_if_needed=(); [ "$(id -u)" = 0 ] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- A private apt configuration for extra suites (sources and backports) -----
# The system's own apt setup is left untouched: lists and cache live under $work.
apt_dir=$work/apt
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
[ -n "$mirror" ] || { log "no Debian mirror found in the system's apt sources"; exit 1; }
private_apt() {
  apt-get -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" \
    -o Acquire::Check-Valid-Until=false -o APT::Get::List-Cleanup=false "$@"
}
if [ ! -f "$apt_dir/updated" ]; then
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  cat >"$apt_dir/sources.list" <<EOF
deb $mirror bookworm-backports main
deb-src $mirror bookworm main
deb-src $mirror trixie main
EOF
  log "updating the private apt lists ($mirror)"
  private_apt -qq update >&2
  touch "$apt_dir/updated"
fi

# --- meson >= 1.1 (bookworm's is 1.0): unpacked from bookworm-backports ---------
meson_root=$work/meson
if [ ! -x "$meson_root/usr/bin/meson" ]; then
  log "fetching meson from bookworm-backports"
  (cd "$work" && rm -f meson_*.deb && private_apt -qq download -t bookworm-backports meson >&2)
  dpkg -x "$work"/meson_*.deb "$meson_root"
fi
meson() { PYTHONPATH="$meson_root/usr/lib/python3/dist-packages" python3 "$meson_root/usr/bin/meson" "$@"; }

# --- Debian source packages: flatbuffers (trixie) and libsrtp2 (bookworm) ------
src_dir=$work/src
mkdir -p "$src_dir"
fetch_source() { # name version
  local dir=$src_dir/$1
  [ -d "$dir" ] && return 0
  log "fetching Debian source $1=$2"
  (cd "$src_dir" && private_apt -qq source --download-only "$1=$2" >&2)
  rm -rf "$dir.tmp"
  # dpkg-source applies Debian's own patches (libsrtp2's data-alignment fix).
  dpkg-source --no-check -x "$src_dir/$1_${2#*:}.dsc" "$dir.tmp" >&2
  mv "$dir.tmp" "$dir"
}
fetch_source flatbuffers 23.5.26+dfsg-4
fetch_source libsrtp2 2.5.0-3

# flatc and the flatbuffers headers must be one version (generated headers
# static_assert it); trixie's binaries need a newer glibc, so build from source.
fb_prefix=$work/flatbuffers-prefix
if [ ! -x "$fb_prefix/bin/flatc" ]; then
  log "building flatbuffers (about 2.5 minutes)"
  cmake -S "$src_dir/flatbuffers" -B "$work/flatbuffers-build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$fb_prefix" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DFLATBUFFERS_BUILD_TESTS=OFF \
    -DFLATBUFFERS_BUILD_FLATHASH=OFF >&2
  cmake --build "$work/flatbuffers-build" -j"$(nproc)" >&2
  cmake --install "$work/flatbuffers-build" >&2
fi
fb_libdir=$(dirname "$(find "$fb_prefix" -name 'libflatbuffers.a' | head -n1)")

# --- The worker sources, patched ----------------------------------------------
build_src=$work/worker-src
rm -rf "$build_src"
mkdir -p "$build_src"
cp -r "$pkg_dir/worker" "$build_src/worker"
for p in "$here"/patches/*.patch; do
  log "applying $(basename "$p")"
  patch -s -p1 -d "$build_src" <"$p"
done

# --- Subproject substitutes, in the directories the .wrap files name ---------
subprojects=$build_src/worker/subprojects
wrap_dir() { sed -n 's/^directory *= *//p' "$subprojects/$1.wrap"; }
install_substitute() { # wrap-name substitute-dir
  local dest=$subprojects/$(wrap_dir "$1")
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -r "$here/subprojects/$2/." "$dest/"
  sed -i -e "s#@FLATBUFFERS_PREFIX@#$fb_prefix#g" -e "s#@FLATBUFFERS_LIBDIR@#$fb_libdir#g" "$dest/meson.build"
}
install_substitute libuv libuv
install_substitute openssl openssl
install_substitute abseil-cpp abseil-cpp
install_substitute flatbuffers flatbuffers
install_substitute unordered-dense unordered-dense
# libsrtp3 -> Debian's libsrtp2 source, built by its own meson.build, plus the
# two names mediasoup's meson.build reads.
srtp_dest=$subprojects/$(wrap_dir libsrtp3)
rm -rf "$srtp_dest"
cp -r "$src_dir/libsrtp2" "$srtp_dest"
cat "$here/subprojects/libsrtp3-aliases.meson" >>"$srtp_dest/meson.build"

# --- Configure and build -------------------------------------------------------
build_dir=$work/worker-build
rm -rf "$build_dir"
log "configuring the worker"
PATH="$fb_prefix/bin:$PATH" meson setup "$build_dir" "$build_src/worker" \
  --wrap-mode=nodownload --buildtype=release -Db_ndebug=true -Dprefer_static=true >&2
log "building the worker (about 5 minutes on 2 cores)"
PATH="$fb_prefix/bin:$PATH" ninja -C "$build_dir" mediasoup-worker >&2
install -m 0755 "$build_dir/mediasoup-worker" "$out_dir/mediasoup-worker"
echo "$out_dir/mediasoup-worker"
