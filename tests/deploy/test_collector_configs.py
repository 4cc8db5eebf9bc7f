"""deploy/collector/*.yaml would load in the pinned otelcol-contrib release and are wired the
way docs/deploy.md says. No Collector binary can run here: the component list and the config
schemas of the release stand in for it (deploy/collector/otelcol-contrib/README.md), and the
mutation tests prove each check catches what it is for.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import collector_check as check

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "deploy" / "collector").glob("*.yaml"))
# Components whose configuration no schema in the reference data covers: only their names are
# checked (against the manifest).
NO_SCHEMA = {"processors.memory_limiter"}


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "deploy" / "collector" / name).read_text()))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_in_the_pinned_release(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert check.check_components(config) == []
    assert check.check_pipelines(config) == []
    problems, uncovered = check.check_keys(config)
    assert problems == []
    assert set(uncovered) <= NO_SCHEMA


def test_both_tiers_exist_and_the_images_pin_the_manifest_release() -> None:
    assert [p.name for p in CONFIGS] == ["agent.yaml", "gateway.yaml"]
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert compose.count(f"otel/opentelemetry-collector-contrib:{check.RELEASE}") == 2


def test_a_component_missing_from_the_release_is_caught() -> None:
    config = load("agent.yaml")
    config["exporters"]["sapm"] = {}  # in the MODULES table, removed from contrib by 0.159.0
    check.MODULES[("exporters", "sapm")] = "sapmexporter"
    try:
        assert any("sapmexporter is not in" in p for p in check.check_components(config))
    finally:
        del check.MODULES[("exporters", "sapm")]
    config["processors"]["groupbytrace"] = {}
    assert any("unknown component type" in p for p in check.check_components(config))


def test_wiring_mistakes_are_caught() -> None:
    gateway = load("gateway.yaml")
    pipes = gateway["service"]["pipelines"]

    broken = copy.deepcopy(gateway)
    broken["service"]["pipelines"]["traces/sampled"]["processors"] = ["tail_sampling", "batch"]
    assert "memory_limiter must be the first" in " ".join(check.check_pipelines(broken))

    broken = copy.deepcopy(gateway)
    broken["service"]["pipelines"]["traces/sampled"]["processors"] = [
        "memory_limiter", "batch", "tail_sampling"]  # fmt: skip
    assert "batch must come after tail_sampling" in " ".join(check.check_pipelines(broken))

    broken = copy.deepcopy(gateway)
    broken["service"]["pipelines"]["metrics/traces"]["receivers"] = ["servicegraph"]
    assert "connector spanmetrics must end one pipeline and start another" in check.check_pipelines(
        broken
    )

    broken = copy.deepcopy(gateway)
    broken["service"]["pipelines"]["traces"]["exporters"] = [*pipes["traces"]["exporters"], "x"]
    assert "pipeline traces: exporters x is not defined" in check.check_pipelines(broken)

    broken = copy.deepcopy(gateway)
    broken["processors"]["probabilistic_sampler"] = {"sampling_percentage": 10}
    assert "processors.probabilistic_sampler is defined but not used" in check.check_pipelines(
        broken
    )


def test_a_misspelt_key_is_caught_even_under_squashed_and_moved_sections() -> None:
    gateway = load("gateway.yaml")
    gateway["exporters"]["otlp/jaeger"]["retry_on_failure"]["max_elapsed"] = "1h"
    gateway["receivers"]["otlp"]["protocols"]["grpc"]["endpont"] = "0.0.0.0:4317"
    gateway["connectors"]["spanmetrics"]["exemplar"] = {"enabled": True}
    problems, _ = check.check_keys(gateway)
    assert problems == [
        "receivers.otlp: unknown key protocols.grpc.endpont",
        "exporters.otlp: unknown key retry_on_failure.max_elapsed",
        "connectors.spanmetrics: unknown key exemplar",
    ]


def test_agent_routes_by_trace_id_with_a_persistent_queue() -> None:
    agent = load("agent.yaml")
    lb = agent["exporters"]["loadbalancing"]
    assert lb["routing_key"] == "traceID"
    storage = lb["sending_queue"]["storage"]
    assert lb["sending_queue"]["enabled"] and storage in agent["service"]["extensions"]
    assert component_of(storage) == "file_storage"
    procs = agent["service"]["pipelines"]["traces"]["processors"]
    assert procs == ["memory_limiter", "resourcedetection", "batch"]


def test_gateway_exports_to_jaeger_with_a_persistent_queue_and_exposes_nothing_extra() -> None:
    gateway = load("gateway.yaml")
    jaeger = gateway["exporters"]["otlp/jaeger"]
    assert jaeger["retry_on_failure"]["enabled"]
    assert component_of(jaeger["sending_queue"]["storage"]) == "file_storage"
    assert gateway["connectors"]["spanmetrics"]["exemplars"]["enabled"]
    assert gateway["exporters"]["prometheus"]["enable_open_metrics"]  # exemplars need it
    for config in (gateway, load("agent.yaml")):
        assert config["extensions"]["zpages"]["endpoint"].startswith("127.0.0.1:")
        assert not any(component_of(e) == "pprof" for e in config["extensions"])
        assert "health_check" in config["service"]["extensions"]


def test_collector_ports_match_the_prometheus_scrape_targets() -> None:
    gateway = load("gateway.yaml")
    port = gateway["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    targets = ROOT / "deploy" / "compose" / "prometheus-targets"
    assert yaml.safe_load((targets / "collector.yml").read_text())[0]["targets"] == [
        f"otel-gateway:{port}"
    ]
    own = {t for g in yaml.safe_load((targets / "collector-self.yml").read_text())
           for t in g["targets"]}  # fmt: skip
    for name, host in (("agent.yaml", "otel-agent"), ("gateway.yaml", "otel-gateway")):
        reader = load(name)["service"]["telemetry"]["metrics"]["readers"][0]
        assert f"{host}:{reader['pull']['exporter']['prometheus']['port']}" in own
    # The one-machine targets use the same ports.
    shipped = ROOT / "deploy" / "prometheus" / "targets"
    assert f":{port}" in (shipped / "collector.yml").read_text()
    assert ":8888" in (shipped / "collector-self.yml").read_text()


def component_of(name: str) -> str:
    return check.component_type(name)
