#!/usr/bin/env bash
# Debian 11 (bullseye, glibc 2.31) roots: the desktop build is made in one so it runs on
# Debian 11 / Ubuntu 20.04 and newer, and the smoke test runs the frozen app in another.
#
#   packaging/debian11_root.sh build    print the build root's path, making it first if needed:
#                                       compilers, cmake, the libraries PyInstaller bundles, and
#                                       Python 3.11 in /opt/python3.11 (--enable-shared) with a
#                                       venv holding pip in /opt/buildpy
#   packaging/debian11_root.sh clean    print the clean root's path (debootstrap minbase: no
#                                       Python, no compiler), making it first if needed
#   packaging/debian11_root.sh run [--no-net] [--disk-tmp] [--bind SRC DST]... [--ro SRC DST]...
#                                  ROOT -- CMD...
#                                       run CMD chrooted in ROOT in a private mount namespace:
#                                       /proc, /dev, /sys, a tmpfs on /tmp (--disk-tmp: the root's
#                                       own /tmp, for big builds) and on /mnt, binds (DST under
#                                       /mnt leaves the root unwritten); --no-net: in an empty
#                                       network namespace
#
# Cache: $STETHODESK_PKG_CACHE (default ~/.cache/stethodesk)/debian11/<kind>-<hash>: the build
# root's <hash> is the sha256 of its recipe (make_build's code as bash reads it, the package
# list, the clean root's hash): changing the recipe makes a new root, an unchanged one is
# reused, comments and the `run` helper do not count. The clean root's hash is that of its
# debootstrap command. Old roots are not deleted.
# A root is made in <name>.partial and renamed when complete, so an interrupted run never
# leaves a half-made root that looks finished.
#
# Python 3.11 comes from Debian's own source package (bookworm's python3.11, the Python of the
# project's Debian 12 machines, with Debian's patches and security fixes), fetched with apt-get
# source through a bookworm deb-src line inside the root: python.org is not reachable from the
# project's machines, Debian's mirror is. Debian's own packaging (dpkg-buildpackage) cannot run in
# bullseye (its build-dependencies are bookworm's) and would add PGO/LTO and the test suite
# (hours on 2 cores), so the patched source is configured plainly: --enable-shared (PyInstaller
# bundles libpython), no PGO. Needs root (debootstrap, chroot, mount) and debootstrap installed.
#
# Environment: STETHODESK_DEBIAN_MIRROR (default http://deb.debian.org/debian; when bullseye
# has moved to the archive, http://archive.debian.org/debian).
set -euo pipefail
CACHE="${STETHODESK_PKG_CACHE:-$HOME/.cache/stethodesk}/debian11"
MIRROR="${STETHODESK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# the clean root depends on the debootstrap command alone
DEBOOTSTRAP=(debootstrap --variant=minbase bullseye)
CLEAN_HASH="$(echo "${DEBOOTSTRAP[*]}" | sha256sum | cut -c1-16)"
PY_PREFIX=/opt/python3.11
BUILD_VENV=/opt/buildpy  # venv of that Python with pip: build.sh's PYTHON inside the root
# What the build needs in the root: compilers and cmake (llama.cpp, Python), Python's build
# libraries, and the run-time libraries PyInstaller copies into the app (PortAudio for
# sounddevice, Qt's xcb/EGL/fontconfig/dbus dependencies: scripts/bootstrap.sh's list).
BUILD_PKGS="build-essential cmake pkg-config ca-certificates xz-utils dpkg-dev binutils
 libssl-dev zlib1g-dev libbz2-dev liblzma-dev libffi-dev libsqlite3-dev libreadline-dev
 libncursesw5-dev libgdbm-dev uuid-dev libexpat1-dev
 libportaudio2 libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0
 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
 libxcb-shape0 libxcb-xkb1"

log() { echo "[debian11 $(date -u +%H:%M:%S)] $*" >&2; }

# run [--no-net] [--bind SRC DST]... [--ro SRC DST]... ROOT -- CMD...
run_in() {
  local net="" tmp=tmpfs binds=() root
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-net) net="-n"; shift ;;
      --disk-tmp) tmp=disk; shift ;;
      --bind) binds+=("rw" "$2" "$3"); shift 3 ;;
      --ro) binds+=("ro" "$2" "$3"); shift 3 ;;
      *) break ;;
    esac
  done
  root="$1"; shift
  [ "${1:-}" = "--" ] && shift
  [ -x "$root/bin/sh" ] || { echo "debian11_root.sh: $root is not a root file system" >&2; exit 2; }
  # the mounts live in a private namespace and vanish with it
  unshare -m $net --propagation private -- /bin/bash -s -- "$root" "$tmp" "${#binds[@]}" "${binds[@]}" "$@" <<'SH'
set -euo pipefail
root="$1"; tmp="$2"; n="$3"; shift 3
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
[ "$tmp" = tmpfs ] && mount -t tmpfs tmpfs "$root/tmp"
mount -t tmpfs tmpfs "$root/mnt"
[ -f /etc/resolv.conf ] && [ -f "$root/etc/resolv.conf" ] && mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
i=0
while [ "$i" -lt "$n" ]; do
  mode="$1" src="$2" dst="$3"; shift 3; i=$((i + 3))
  if [ -d "$src" ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; touch "$root$dst"; fi
  mount --rbind "$src" "$root$dst"
  [ "$mode" = ro ] && mount -o remount,bind,ro "$root$dst"
done
exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 "$@"
SH
}

# debootstrap minbase into $1 (a new folder)
bootstrap() {
  local t0=$SECONDS
  command -v debootstrap >/dev/null || { echo "debian11_root.sh: debootstrap not found: apt-get install -y debootstrap" >&2; exit 2; }
  log "${DEBOOTSTRAP[*]} $1 $MIRROR"
  "${DEBOOTSTRAP[@]}" "$1" "$MIRROR" >"$1.debootstrap.log" 2>&1 || {
    tail -20 "$1.debootstrap.log" >&2; exit 1; }
  rm -f "$1.debootstrap.log"
  log "debootstrap done in $((SECONDS - t0)) s"
}

make_clean() {
  local dest="$CACHE/clean-$CLEAN_HASH"
  [ -d "$dest" ] && { echo "$dest"; return; }
  mkdir -p "$CACHE"
  rm -rf "$dest.partial"
  bootstrap "$dest.partial"
  mv "$dest.partial" "$dest"
  echo "$dest"
}

make_build() {
  local dest="$CACHE/build-$HASH" part t0
  # complete roots only ever appear by the final rename
  [ -d "$dest" ] && { echo "$dest"; return; }
  part="$dest.partial"
  rm -rf "$part"
  # the same debootstrap as the clean root (one download), copied
  cp -a "$(make_clean)" "$part"
  t0=$SECONDS
  log "apt-get install of the build packages"
  echo "deb-src $MIRROR bookworm main" > "$part/etc/apt/sources.list.d/bookworm-src.list"
  # shellcheck disable=SC2086
  run_in --disk-tmp "$part" -- /bin/sh -c "set -e; export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $(echo $BUILD_PKGS) >/dev/null
    apt-get clean" >&2
  log "packages installed in $((SECONDS - t0)) s"
  t0=$SECONDS
  log "Python 3.11 from Debian's source package (bookworm), configure --enable-shared, make"
  run_in --disk-tmp "$part" -- /bin/sh -c "set -e; mkdir -p /usr/src/python && cd /usr/src/python
    apt-get source -qq --only-source python3.11 >source.log 2>&1 || { cat source.log; exit 1; }
    cd python3.11-3.11*/
    # Debian's own configure options (debian/rules) where they matter: its patches build
    # pyexpat against the system expat, and its security patches include CPython-internal
    # headers in pyexpat.c, which Debian builds into libpython: built as a shared module here
    # it needs Py_BUILD_CORE_MODULE (as pyexpat.c itself defines from 3.12 on)
    LIBEXPAT_CFLAGS=-DPy_BUILD_CORE_MODULE ./configure -q --prefix=$PY_PREFIX --enable-shared \
      --without-ensurepip --enable-ipv6 --enable-loadable-sqlite-extensions --with-computed-gotos \
      --with-system-expat --with-system-ffi --with-ssl-default-suites=openssl \
      LDFLAGS='-Wl,-rpath,$PY_PREFIX/lib' >/dev/null
    make -s -j\$(nproc) >make.out 2>make.err || { tail -30 make.err; exit 1; }
    if grep -A2 'Failed to build these modules' make.out; then exit 1; fi
    make -s install >/dev/null 2>>make.err || { tail -30 make.err; exit 1; }
    cd / && rm -rf /usr/src/python
    $PY_PREFIX/bin/python3.11 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, pyexpat, sys; print(\"python\", sys.version, \"expat\", pyexpat.EXPAT_VERSION)'
    # Debian's ensurepip refuses the system interpreter and works in a venv: the build's pip
    # (llama.cpp wheels, the packaging venv) is the venv $BUILD_VENV, with the pip 22.3.1 of
    # the source (the packaging venv upgrades its own; making the root needs only Debian's mirror)
    $PY_PREFIX/bin/python3.11 -m venv $BUILD_VENV" >&2
  log "Python built in $((SECONDS - t0)) s"
  mv "$part" "$dest"
  echo "$dest"
}

# Only the root's path goes to stdout (callers take it with $(...)); everything else to stderr.
# the build root's recipe: make_build as bash reads it (comments dropped) and its settings
HASH="$( { declare -f make_build; echo "$BUILD_PKGS $PY_PREFIX $BUILD_VENV $CLEAN_HASH"; } | sha256sum | cut -c1-16)"

case "${1:-}" in
  build) make_build ;;
  clean) make_clean ;;
  run) shift; run_in "$@" ;;
  *) echo "usage: packaging/debian11_root.sh build|clean|run ..." >&2; exit 2 ;;
esac
