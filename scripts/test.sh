#!/usr/bin/env bash
# The whole test suite: start the servers it needs, then run pytest (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export SALER_TRACING_RAISE_INTERNAL_ERRORS=1
exec .venv/bin/python -m pytest "$@"
