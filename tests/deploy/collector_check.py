"""Static checks of an OpenTelemetry Collector configuration, for machines where no Collector
binary runs: components against the pinned release's manifest, pipeline wiring, and keys
against the components' JSON Schemas (deploy/collector/otelcol-contrib/README.md).

Each function returns the problems it found, as sentences; an empty list means the check passed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REFERENCE = Path(__file__).resolve().parents[2] / "deploy" / "collector" / "otelcol-contrib"
RELEASE = "0.159.0"
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")

# Component type (what a config names) → (manifest section, Go module's last path element).
# The type is not always the module name without its kind suffix (file_storage, health_check),
# so every component the configurations may use is listed; a new one must be added here.
MODULES: dict[tuple[str, str], str] = {
    ("receivers", "otlp"): "otlpreceiver",
    ("processors", "memory_limiter"): "memorylimiterprocessor",
    ("processors", "batch"): "batchprocessor",
    ("processors", "resourcedetection"): "resourcedetectionprocessor",
    ("processors", "tail_sampling"): "tailsamplingprocessor",
    ("processors", "probabilistic_sampler"): "probabilisticsamplerprocessor",
    ("processors", "redaction"): "redactionprocessor",
    ("exporters", "otlp"): "otlpexporter",
    ("exporters", "loadbalancing"): "loadbalancingexporter",
    ("exporters", "prometheus"): "prometheusexporter",
    ("exporters", "debug"): "debugexporter",
    ("connectors", "spanmetrics"): "spanmetricsconnector",
    ("connectors", "servicegraph"): "servicegraphconnector",
    ("connectors", "forward"): "forwardconnector",
    ("extensions", "health_check"): "healthcheckextension",
    ("extensions", "zpages"): "zpagesextension",
    ("extensions", "file_storage"): "filestorage",
    ("extensions", "pprof"): "pprofextension",
}
SAMPLERS = {"tail_sampling", "probabilistic_sampler"}
# Connector type → (data type it consumes, data type it emits); None: the same.
CONNECTS: dict[str, tuple[str, str] | None] = {
    "spanmetrics": ("traces", "metrics"),
    "servicegraph": ("traces", "metrics"),
    "forward": None,
}
# Embedded Go structs (mapstructure ",squash"): the schemas show them as a property, the
# configuration has their keys at the parent's level.
SQUASHED = {"clientconfig", "serverconfig", "timeoutconfig", "timeoutsettings", "netaddr",
            "detectorconfig", "tcpaddr"}  # fmt: skip
# Squashed structs the schemas leave empty, and the keys they hold (exporterhelper.TimeoutConfig).
SQUASHED_EMPTY = {"timeoutconfig": {"timeout"}, "timeoutsettings": {"timeout"}}
# Where the 0.141.0 schemas are wrong or silent, with the reason; "" in SCHEMA_MOVED: the keys
# under that path are checked against the schema's root instead.
SCHEMA_MOVED: dict[tuple[str, str, str], str] = {
    # The schema flattens `protocols:` away: grpc and http appear at its root.
    ("receivers", "otlp", "protocols"): "",
    # The schema flattens `retry_on_failure:` (configretry.BackOffConfig) into its root.
    ("exporters", "loadbalancing", "retry_on_failure"): "",
}
SCHEMA_GAPS: dict[tuple[str, str, str], str] = {
    # Policy items list only and/composite/drop: the fields every policy shares (name, type,
    # latency, status_code, string_attribute, probabilistic…) are missing from the schema.
    ("processors", "tail_sampling", "policies[]"): "policy fields absent from the schema",
}


def manifest() -> dict[str, set[str]]:
    data = yaml.safe_load((REFERENCE / f"manifest-{RELEASE}.yaml").read_text())
    assert data["dist"]["version"] == RELEASE
    return {kind: {m["gomod"].split()[0].rsplit("/", 1)[1] for m in data.get(kind, [])}
            for kind in KINDS}  # fmt: skip


def component_type(name: str) -> str:
    return name.split("/", 1)[0]


def check_components(config: dict[str, Any]) -> list[str]:
    """Every configured component exists in the pinned release."""
    available = manifest()
    problems = []
    for kind in KINDS:
        for name in config.get(kind) or {}:
            module = MODULES.get((kind, component_type(name)))
            if module is None:
                problems.append(f"{kind}.{name}: unknown component type (add it to MODULES)")
            elif module not in available[kind]:
                problems.append(f"{kind}.{name}: {module} is not in otelcol-contrib {RELEASE}")
    return problems


def check_pipelines(config: dict[str, Any]) -> list[str]:
    """Wiring: references defined, everything used, connectors between two pipelines,
    memory_limiter first, batch after the samplers."""
    problems: list[str] = []
    service = config.get("service") or {}
    pipelines: dict[str, dict[str, list[str]]] = service.get("pipelines") or {}
    defined = {kind: set(config.get(kind) or {}) for kind in KINDS}
    connectors = defined["connectors"]
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    as_exporter: dict[str, list[str]] = {}
    as_receiver: dict[str, list[str]] = {}
    for ext in service.get("extensions") or []:
        if ext not in defined["extensions"]:
            problems.append(f"service.extensions: {ext} is not defined")
        used["extensions"].add(ext)
    for pid, pipe in pipelines.items():
        for role, pool in (("receivers", "receivers"), ("processors", "processors"),
                           ("exporters", "exporters")):  # fmt: skip
            for name in pipe.get(role) or []:
                if role != "processors" and name in connectors:
                    used["connectors"].add(name)
                    (as_exporter if role == "exporters" else as_receiver).setdefault(
                        name, []
                    ).append(pid)
                elif name in defined[pool]:
                    used[pool].add(name)
                else:
                    problems.append(f"pipeline {pid}: {role} {name} is not defined")
        procs = [component_type(p) for p in pipe.get("processors") or []]
        if procs and procs[0] != "memory_limiter":
            problems.append(f"pipeline {pid}: memory_limiter must be the first processor")
        if "batch" in procs:
            late = [s for s in SAMPLERS if s in procs and procs.index(s) > procs.index("batch")]
            if late:
                problems.append(f"pipeline {pid}: batch must come after {', '.join(late)}")
        elif any(s in procs for s in SAMPLERS):
            problems.append(f"pipeline {pid}: a sampled pipeline needs batch after the sampler")
    for kind in KINDS:
        for name in sorted(defined[kind] - used[kind]):
            problems.append(f"{kind}.{name} is defined but not used")
    for name in sorted(connectors):
        ins, outs = as_exporter.get(name, []), as_receiver.get(name, [])
        if not ins or not outs:
            problems.append(f"connector {name} must end one pipeline and start another")
            continue
        flow = CONNECTS.get(component_type(name))
        for src in ins:
            for dst in outs:
                want = flow or (src.split("/")[0], src.split("/")[0])
                got = (src.split("/")[0], dst.split("/")[0])
                if got != want:
                    problems.append(f"connector {name}: {src} → {dst}, expected {want}")
    return problems


@cache
def _schema(kind: str, module: str) -> dict[str, Any] | None:
    path = REFERENCE / "schemas" / f"{kind[:-1]}_{module}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _known(schema: dict[str, Any]) -> dict[str, Any]:
    props = dict(schema.get("properties") or {})
    for name in SQUASHED & set(props):
        inner = props.pop(name)
        props.update(_known(inner))
        props.update({key: {} for key in SQUASHED_EMPTY.get(name, ())})
    return props


def _walk(value: Any, schema: dict[str, Any], where: tuple[str, str, str], root: dict[str, Any],
          problems: list[str]) -> None:  # fmt: skip
    kind, ctype, path = where
    if isinstance(value, list):
        items = schema.get("items") or {}
        for item in value:
            _walk(item, items, (kind, ctype, f"{path}[]"), root, problems)
        return
    known = _known(schema)
    if not isinstance(value, dict) or not known:
        return  # a scalar, or an object the schema does not describe
    for key, child in value.items():
        sub = f"{path}.{key}" if path else key
        if (kind, ctype, sub) in SCHEMA_MOVED:
            _walk(child, root, (kind, ctype, sub), root, problems)
        elif (kind, ctype, f"{sub}[]") in SCHEMA_GAPS or (kind, ctype, sub) in SCHEMA_GAPS:
            continue
        elif key not in known:
            problems.append(f"{kind}.{ctype}: unknown key {sub}")
        else:
            _walk(child, known[key], (kind, ctype, sub), root, problems)


def check_keys(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Keys against the schemas; returns (problems, component types without a schema)."""
    problems: list[str] = []
    uncovered: list[str] = []
    for kind in KINDS:
        for name, body in (config.get(kind) or {}).items():
            ctype = component_type(name)
            module = MODULES.get((kind, ctype))
            schema = _schema(kind, module) if module else None
            if schema is None:
                uncovered.append(f"{kind}.{ctype}")
                continue
            _walk(body or {}, schema, (kind, ctype, ""), schema, problems)
    return problems, uncovered
