#!/usr/bin/env bash
# The web view's charting library (uPlot) comes from npm, pinned in package-lock.json; its built
# files are copied into the Python package, so the server never fetches anything at run time.
#   bash webview/sync.sh          npm ci, then copy the built files into the package
#   bash webview/sync.sh --check  npm ci, then fail unless the shipped files equal npm's
set -euo pipefail
cd "$(dirname "$0")"
VENDOR=../src/saler_tracing/server/web/static/vendor
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
FILES=(dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE)
for f in "${FILES[@]}"; do
  src=node_modules/uplot/$f
  dst=$VENDOR/uPlot.$(basename "$f" | sed 's/^uPlot\.//')
  if [[ "${1:-}" == "--check" ]]; then
    cmp -s "$src" "$dst" || { echo "webview: $dst differs from npm's uplot $f (run bash webview/sync.sh)" >&2; exit 1; }
  else
    mkdir -p "$VENDOR" && cp "$src" "$dst"
  fi
done
echo "webview: uplot $(node -p "require('./node_modules/uplot/package.json').version") ${1:-synced}"
