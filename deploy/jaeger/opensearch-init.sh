#!/usr/bin/env bash
# One-shot, before Jaeger starts on OpenSearch (config-opensearch.yaml): the ISM policy (applied
# to new indices by its ism_template), then for each index kind the first write index behind
# the aliases Jaeger's use_aliases reads and writes. Idempotent.
#
# Environment: OPENSEARCH_URL, OPENSEARCH_PASSWORD; POLICY (path of opensearch-ism-policy.json);
# CURL_OPTS (for example `--cacert /certs/root-ca.pem`).
set -euo pipefail
: "${OPENSEARCH_URL:?}" "${OPENSEARCH_PASSWORD:?}" "${POLICY:?}"
PREFIX=saler-jaeger
os() {
  # shellcheck disable=SC2086  # CURL_OPTS is a list of options
  curl -fsS ${CURL_OPTS:-} -u "admin:${OPENSEARCH_PASSWORD}" -H 'Content-Type: application/json' "$@"
}

if os -o /dev/null "${OPENSEARCH_URL}/_plugins/_ism/policies/jaeger-ism-policy" 2>/dev/null; then
  echo "jaeger-ism-policy exists"
else
  os -X PUT "${OPENSEARCH_URL}/_plugins/_ism/policies/jaeger-ism-policy" --data-binary "@${POLICY}"
  echo
fi
for kind in span service dependencies sampling; do
  if os -o /dev/null -I "${OPENSEARCH_URL}/_alias/${PREFIX}-${kind}-write" 2>/dev/null; then
    echo "${PREFIX}-${kind}-write exists"
    continue
  fi
  os -X PUT "${OPENSEARCH_URL}/${PREFIX}-${kind}-000001" --data-binary @- <<JSON
{
  "settings": {"plugins.index_state_management.rollover_alias": "${PREFIX}-${kind}-write"},
  "aliases": {
    "${PREFIX}-${kind}-write": {"is_write_index": true},
    "${PREFIX}-${kind}-read": {}
  }
}
JSON
  echo
done
