#!/usr/bin/env bash
# Set up StethoDesk in a virtual environment at .venv in this checkout.
#   scripts/bootstrap.sh          app only
#   scripts/bootstrap.sh --dev    app + test and training tools
# Installs the Debian libraries the app needs first (as root, or through sudo when available).
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

# Qt offscreen/desktop runtime libraries and PortAudio for sounddevice.
APT_APP="libgl1 libegl1 libglib2.0-0 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3
 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1
 libportaudio2 build-essential cmake"
# Tests: a virtual PulseAudio microphone, PDF rendering, audio tools to make odd test files.
# Packaging smoke test: qemu-user runs the frozen app on an emulated pre-AVX CPU, objdump
# (binutils) scans its libraries, desktop-file-validate checks the menu entry, debootstrap makes
# the Debian 11 roots the app is built and run in (its glibc floor, packaging/debian11_root.sh).
APT_DEV="pulseaudio pulseaudio-utils libasound2-plugins poppler-utils ffmpeg xvfb qemu-user binutils desktop-file-utils debootstrap"
PKGS="$APT_APP"
[ "$DEV" = 1 ] && PKGS="$PKGS $APT_DEV"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[bootstrap] installing Debian packages:$missing"
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip wheel >/dev/null
# torch first, the CPU build: from PyTorch's CPU index where it answers within seconds, else the
# pinned registry wheel (an unpinned resolve would pull a multi-GB CUDA build). See install-torch.sh.
scripts/install-torch.sh .venv/bin/python
EXTRAS=""
[ "$DEV" = 1 ] && EXTRAS="[dev,train]"
echo "[bootstrap] installing stethodesk$EXTRAS (llama-cpp-python compiles once, ~5 min, then pip's cache serves it)"
.venv/bin/python -m pip install -q -e ".$EXTRAS"
echo "[bootstrap] ready: $(.venv/bin/python -c 'import stethodesk; print("stethodesk", stethodesk.__version__)')"
