#!/usr/bin/env bash
# Install Debian's Prometheus and Alertmanager (promtool, amtool) when missing: deploy checks
# and the end-to-end monitoring tests run the real binaries, never downloaded builds.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1 || ! command -v amtool >/dev/null 2>&1 \
    || ! command -v prometheus-alertmanager >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager
fi
