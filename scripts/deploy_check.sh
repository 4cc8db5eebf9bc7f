#!/usr/bin/env bash
# Static checks of everything under deploy/: one step per line, each must pass.
# `make deploy-check` runs it, and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/monitoring_tools.sh

step() { echo "== $*"; "$@"; }

# Prometheus: configuration, rules, rule unit tests.
step promtool check config deploy/prometheus/prometheus.yml
step promtool check rules deploy/prometheus/rules/*.yml
step promtool test rules deploy/prometheus/tests/*_test.yml

# Alertmanager: configuration, then every routing case (receiver expected, alert labels).
step amtool check-config deploy/alertmanager/alertmanager.yml
while read -r want labels; do
  case "$want" in ''|'#'*) continue ;; esac
  # shellcheck disable=SC2086  # labels are one word each
  step amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
    --verify.receivers="$want" $labels 2>/dev/null
done < deploy/alertmanager/tests/routes.txt

# Grafana: the committed dashboards are what the code generates.
step .venv/bin/python deploy/grafana/generate.py --check

# The compose stack: the file against the Compose specification (check-jsonschema's vendored
# schema, offline), then the Collector configurations against the pinned otelcol-contrib
# release, the compose wiring and the Jaeger index scripts (tests/deploy).
step .venv/bin/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml
step .venv/bin/python -m pytest -q tests/deploy/test_collector_configs.py \
  tests/deploy/test_compose.py
