#!/usr/bin/env bash
# The browser bundle the Python package ships (served by saler_tracing.browser_router), built
# with esbuild from the versions package-lock.json pins, so a FastAPI app needs no Node.
#   bash browser/build.sh          npm ci, build, copy the bundle into the package
#   bash browser/build.sh --check  npm ci, build, fail unless the shipped bundle is identical
set -euo pipefail
cd "$(dirname "$0")"
SHIPPED=../src/saler_tracing/_internal/endpoints/browser/static/saler-tracing.min.js
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
mkdir -p dist
node build.mjs dist/saler-tracing.min.js
if [[ "${1:-}" == "--check" ]]; then
  cmp -s dist/saler-tracing.min.js "$SHIPPED" || {
    echo "browser: $SHIPPED differs from a fresh build (run bash browser/build.sh)" >&2
    exit 1
  }
else
  mkdir -p "$(dirname "$SHIPPED")" && cp dist/saler-tracing.min.js "$SHIPPED"
fi
echo "browser: bundle $(wc -c <dist/saler-tracing.min.js) bytes, $(gzip -9cn dist/saler-tracing.min.js | wc -c) gzipped, ${1:-built}"
