#!/usr/bin/env bash
# One-shot, before Jaeger starts (the `elasticsearch-init` service of deploy/compose.yaml):
# the ILM policy Jaeger's use_ilm expects (`jaeger-ilm-policy`), then for each index kind the
# first write index behind the aliases Jaeger's use_aliases reads and writes. Idempotent: an
# existing policy is updated, existing indices are left alone.
#
# Environment: ELASTICSEARCH_URL, ELASTIC_PASSWORD; POLICY (path of elasticsearch-ilm-policy.json).
set -euo pipefail
: "${ELASTICSEARCH_URL:?}" "${ELASTIC_PASSWORD:?}" "${POLICY:?}"
PREFIX=saler-jaeger
es() { curl -fsS -u "elastic:${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' "$@"; }

es -X PUT "${ELASTICSEARCH_URL}/_ilm/policy/jaeger-ilm-policy" --data-binary "@${POLICY}"
echo
for kind in span service dependencies sampling; do
  index="${PREFIX}-${kind}-000001"
  if es -o /dev/null -I "${ELASTICSEARCH_URL}/_alias/${PREFIX}-${kind}-write" 2>/dev/null; then
    echo "${PREFIX}-${kind}-write exists"
    continue
  fi
  es -X PUT "${ELASTICSEARCH_URL}/${index}" --data-binary @- <<JSON
{
  "settings": {
    "index.lifecycle.name": "jaeger-ilm-policy",
    "index.lifecycle.rollover_alias": "${PREFIX}-${kind}-write"
  },
  "aliases": {
    "${PREFIX}-${kind}-write": {"is_write_index": true},
    "${PREFIX}-${kind}-read": {}
  }
}
JSON
  echo
done
