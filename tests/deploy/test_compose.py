"""deploy/compose.yaml is a valid Compose file that starts in order, pins every image, holds no
password, configures the demo services only through documented variables, and asks the
Collector gateway for the same tail policy the services' library applies.

No container engine runs here: the file is validated against the Compose specification's JSON
schema (check-jsonschema's vendored copy, offline) and read; docs/deploy.md has the commands.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from saler_tracing._internal.config.settings import SETTINGS
from saler_tracing._internal.sampling.rules import glob

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DEMO = ("shop", "payments", "worker")
REQUIRED = re.compile(r"^\$\{(\w+):\?[^}]+\}$")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def test_compose_file_validates_against_the_compose_specification_offline() -> None:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert tool, "check-jsonschema is missing: pip install -e '.[dev]'"
    for path in (COMPOSE,):
        run = subprocess.run([tool, "--builtin-schema", "vendor.compose-spec", str(path)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr


def test_the_schema_check_rejects_an_invalid_file(tmp_path: Path) -> None:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert tool
    bad = compose()
    bad["services"]["shop"]["depends_on"]["payments"]["condition"] = "service_ready"
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(bad))
    command = [tool, "--builtin-schema", "vendor.compose-spec", str(tmp_path / "compose.yaml")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "service_ready" in run.stdout


def test_every_image_is_pinned_to_a_version() -> None:
    for name, svc in services().items():
        image = svc["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        if name not in DEMO:
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {image}"


def test_the_documented_ports() -> None:
    published = {p.split(":")[0]: n for n, s in services().items() for p in s.get("ports", [])}
    assert published == {"16686": "jaeger", "9093": "alertmanager", "3000": "grafana",
                         "9090": "prometheus", "8000": "shop"}  # fmt: skip


def test_startup_order_health_checks_and_mounted_files() -> None:
    svcs = services()
    for name, svc in svcs.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in svcs, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in svcs[dep], f"{name} waits for {dep}'s missing healthcheck"
            if condition == "service_completed_successfully":
                assert svcs[dep].get("restart") == "no", dep
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    assert svcs["jaeger"]["depends_on"]["elasticsearch-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert svcs["elasticsearch-init"]["depends_on"]["elasticsearch"]["condition"] == (
        "service_healthy"
    )
    assert svcs["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    es = svcs["elasticsearch"]
    assert es["environment"]["discovery.type"] == "single-node"
    assert "-Xms1g -Xmx1g" in es["environment"]["ES_JAVA_OPTS"]
    assert es["ulimits"]["memlock"] == {"soft": -1, "hard": -1}


def test_no_password_in_the_file_and_every_secret_is_required_and_documented() -> None:
    example = (DEPLOY / ".env.example").read_text()
    documented = dict(re.findall(r"^(\w+)=(.*)$", example, re.M))
    required: set[str] = set()
    for name, svc in services().items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                match = REQUIRED.match(str(value))
                assert match, f"{name}.{key} must be ${{VAR:?message}}, not a value"
                required.add(match.group(1))
    assert {"ELASTIC_PASSWORD", "GRAFANA_ADMIN_PASSWORD"} <= required
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert used == set(documented), "deploy/.env.example and compose.yaml disagree"
    assert all(v == "" for v in documented.values()), "the example must not carry values"
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().split()


def test_demo_services_read_only_documented_variables() -> None:
    known = {var for setting in SETTINGS for var in setting.env}
    table = (ROOT / "docs" / "configuration.md").read_text()
    for name in DEMO:
        env = services()[name]["environment"]
        for key in env:
            assert key in known, f"{name}: {key} is not a saler_tracing setting"
            assert f"`{key}`" in table, f"{name}: {key} is not in docs/configuration.md"
        assert env["OTEL_SERVICE_NAME"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-agent:4318"


def test_gateway_tail_policy_mirrors_the_services_tail_settings() -> None:
    gateway = yaml.safe_load((DEPLOY / "collector" / "gateway.yaml").read_text())
    policies = {p["type"]: p for p in gateway["processors"]["tail_sampling"]["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    for name in DEMO:
        env = services()[name]["environment"]
        assert policies["latency"]["latency"]["threshold_ms"] == int(
            env["SALER_TRACING_TAIL_LATENCY_MS"]
        )
        globs = [glob(g) for g in env["SALER_TRACING_CRITICAL_ROUTES"].split(",")]
        critical = policies["string_attribute"]["string_attribute"]
        regexes = [re.compile(r) for r in critical["values"]]
        assert critical["key"] == "http.route"
        probes = ["/checkout", "/charges", "/checkout/x", "/products", "/orders/{order_id}",
                  "/charges/{id}", "/x/checkout"]  # fmt: skip
        for route in probes:
            library = any(g.match(route) for g in globs)
            collector = any(r.search(route) for r in regexes)
            assert library == collector, f"{route}: library {library}, gateway {collector}"
    assert 0 < policies["probabilistic"]["probabilistic"]["sampling_percentage"] <= 100


@pytest.mark.parametrize("script", sorted((DEPLOY / "jaeger").glob("*.sh")), ids=lambda p: p.name)
def test_index_init_scripts_parse(script: Path) -> None:
    run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("store", ["elasticsearch", "opensearch"])
def test_jaeger_storage_uses_the_aliases_and_policy_the_init_script_creates(store: str) -> None:
    jaeger = DEPLOY / "jaeger"
    config = yaml.safe_load((jaeger / f"config-{store}.yaml").read_text())
    backend = config["extensions"]["jaeger_storage"]["backends"][store][store]
    assert backend["use_aliases"] and backend["use_ilm"]
    assert config["extensions"]["jaeger_query"]["storage"]["traces"] == store
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == store
    assert config["extensions"]["jaeger_query"]["http"]["endpoint"].endswith(":16686")
    prefix = backend["indices"]["index_prefix"]
    script = (jaeger / f"{store}-init.sh").read_text()
    assert f"PREFIX={prefix}-jaeger" in script
    for kind in ("spans", "services", "dependencies", "sampling"):
        assert backend["indices"][kind] == {"shards": 1, "replicas": 1}
