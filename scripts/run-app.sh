#!/usr/bin/env bash
# Set up (first time) and start StethoDesk on the default embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/stethodesk "$@"
