"""deploy/ is consistent with itself and with the docs: every alert is routed, tested and has a
runbook; the dashboards are what the code generates; no secret is in the configuration.

The rules themselves run in promtool (``scripts/deploy_check.sh``, and the last test here);
on real servers in test_monitoring_stack.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*_test.yml"))
AM_CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
SEVERITIES = {"page", "critical", "warning", "info"}


def rules() -> list[dict[str, Any]]:
    return [r for f in RULES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def test_every_alert_has_severity_summary_description_and_a_runbook_section() -> None:
    runbook = (ROOT / "docs" / "runbooks.md").read_text()
    sections = set(re.findall(r"^### (SalerTracing\w+)", runbook, re.M))
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in SEVERITIES, name
        assert alert["labels"]["category"], name
        notes = alert["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"].endswith(f"docs/runbooks.md#{name.lower()}"), name
        assert name in sections, f"docs/runbooks.md has no section for {name}"
    assert sections == set(names), f"runbook sections without an alert: {sections - set(names)}"


def test_every_alert_and_recording_rule_has_a_promtool_case() -> None:
    tested_alerts: set[str] = set()
    tested_exprs: list[str] = []
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested_alerts |= {t["alertname"] for t in case.get("alert_rule_test", [])}
            tested_exprs += [t["expr"] for t in case.get("promql_expr_test", [])]
    assert {a["alert"] for a in alerts()} <= tested_alerts
    for rule in rules():
        if "record" in rule:
            assert any(rule["record"] in e for e in tested_exprs), rule["record"]


def test_every_receiver_has_a_routing_case_and_no_secret_is_inline() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text())
    cases = (DEPLOY / "alertmanager" / "tests" / "routes.txt").read_text().splitlines()
    expected = {line.split()[0] for line in cases if line.strip() and not line.startswith("#")}
    assert {r["name"] for r in config["receivers"]} == expected
    text = AM_CONFIG.read_text()
    for inline in ("api_url:", "routing_key:", "service_key:", "auth_password:", "credentials:"):
        assert inline not in text, f"{inline} belongs in a *_file setting"


def test_inhibition_silences_latency_and_errors_of_a_service_that_is_down() -> None:
    inhibit = yaml.safe_load(AM_CONFIG.read_text())["inhibit_rules"]
    down = [r for r in inhibit if r["source_matchers"] == ['alertname="SalerTracingTargetDown"']]
    assert down and set(down[0]["equal"]) == {"environment", "service"}
    categories = {a["labels"]["category"] for a in alerts()}
    silenced = down[0]["target_matchers"][0].split("=~", 1)[1].strip('"').split("|")
    assert {"errors", "latency"} <= set(silenced) <= categories


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def test_dashboards_regenerate_to_the_committed_json() -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "grafana" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_answer_questions_with_variables_for_every_scope() -> None:
    boards = {
        p.stem: json.loads(p.read_text())
        for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")
    }
    assert set(boards) == {"overview", "service", "pipeline"}
    panels = [p for b in boards.values() for p in _panels(b)]
    assert len(panels) >= 17
    for panel in panels:
        assert "?" in panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    service_vars = {v["name"] for v in boards["service"]["templating"]["list"]}
    assert {"datasource", "environment", "service", "route"} <= service_vars
    types = {p["type"] for p in panels}
    assert "nodeGraph" in types
    latency = next(p for p in _panels(boards["service"]) if p["title"] == "Latency P95 per route")
    assert "jaeger_url" in latency["fieldConfig"]["defaults"]["links"][0]["url"]


@pytest.mark.skipif(not shutil.which("promtool"), reason="needs Debian's prometheus (promtool)")
def test_promtool_rule_tests_pass() -> None:
    result = subprocess.run(
        ["promtool", "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
