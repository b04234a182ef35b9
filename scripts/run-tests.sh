#!/usr/bin/env bash
# Set up (first time) and run the whole test suite headless: offscreen Qt, virtual microphone,
# real recordings from ../shared/data, real llama.cpp inference on the real GGUF.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
export QT_QPA_PLATFORM=offscreen
export PYTHONFAULTHANDLER=1
exec .venv/bin/python -m pytest "$@"
