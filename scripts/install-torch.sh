#!/usr/bin/env bash
# Install torch's CPU build into a venv (scripts/bootstrap.sh calls it before the app's packages).
#
#   scripts/install-torch.sh PYTHON        PYTHON: the venv's interpreter, e.g. .venv/bin/python
#
# The version is pyproject.toml's `torch==X` pin (the one place it is written). The encoder runs on
# the CPU, and PyPI's Linux torch wheel depends on the CUDA libraries (several GB), so:
#   1. torch X already installed (any build): nothing to do.
#   2. PyTorch's CPU wheel index (STETHODESK_TORCH_INDEX, default https://download.pytorch.org/whl/cpu)
#      answers within PROBE_S seconds: `torch==X+cpu` from there (the cp311 Linux wheel is ~180 MB;
#      torch's small dependencies come from the usual registry with the app's packages).
#   3. Otherwise, or when that install fails: the pinned `torch==X` from the configured registry.
# STETHODESK_TORCH_INDEX=none skips the probe (offline mirrors). Exit status: pip's, non-zero only
# when both ways failed.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: scripts/install-torch.sh PYTHON" >&2; exit 2; }
PY="$1"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PROBE_S=5  # s: a reachable index answers in well under a second; a filtered network hangs
INDEX="${STETHODESK_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
PIN="$(sed -n 's/^ *"torch==\([^"]*\)",*$/\1/p' "$REPO/pyproject.toml")"
[ -n "$PIN" ] || { echo "install-torch.sh: no \"torch==...\" pin in $REPO/pyproject.toml" >&2; exit 2; }

have="$("$PY" -c 'from importlib.metadata import version; print(version("torch"))' 2>/dev/null || true)"
if [ "${have%%+*}" = "$PIN" ]; then
  echo "[torch] torch $have already installed"
  exit 0
fi

# does the index answer? (timeout bounds DNS too, which urllib's own timeout does not)
reachable() {
  [ "$INDEX" != none ] || return 1
  timeout "$((PROBE_S + 1))" "$PY" - "$INDEX/torch/" "$PROBE_S" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

t0=$(date +%s)
if reachable; then
  echo "[torch] torch $PIN CPU build from $INDEX (~180 MB download)"
  # --no-deps: the index holds torch; its dependencies come with the app's packages next
  if "$PY" -m pip install -q --no-deps --timeout 30 --retries 1 --index-url "$INDEX" "torch==$PIN+cpu"; then
    echo "[torch] installed $("$PY" -c 'from importlib.metadata import version; print(version("torch"))') in $(( $(date +%s) - t0 )) s"
    exit 0
  fi
  echo "[torch] the CPU index failed; falling back to the registry's torch==$PIN"
else
  echo "[torch] $INDEX not reachable (probe $(( $(date +%s) - t0 )) s); torch==$PIN from the registry"
fi
"$PY" -m pip install -q "torch==$PIN"
echo "[torch] installed $("$PY" -c 'from importlib.metadata import version; print(version("torch"))') in $(( $(date +%s) - t0 )) s"
