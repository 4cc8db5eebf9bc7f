#!/usr/bin/env bash
# The whole test suite: start the servers it needs, then run pytest (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
# The web view's browser tests drive Debian's chromium (never a downloaded browser build).
command -v chromium >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}
# The OTLP encoder's C module is built at install when a C compiler is there; the encoder tests
# run on it and on the Python path, so build it now if the install had no compiler.
if ! .venv/bin/python -c "import saler_tracing._internal.export._speedups" 2>/dev/null; then
  command -v cc >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc
  }
  .venv/bin/python -m pip install --quiet --no-deps -e .
fi
# The TLS export tests make their certificates with openssl.
command -v openssl >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
}
# The monitoring tests run Debian's Prometheus and Alertmanager.
bash scripts/monitoring_tools.sh
export SALER_TRACING_RAISE_INTERNAL_ERRORS=1
exec .venv/bin/python -m pytest "$@"
