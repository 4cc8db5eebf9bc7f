"""The dashboards and alerts on real servers: the demo's services serving /metrics, Debian's
Prometheus running our configuration and rules, Debian's Alertmanager running our routing.

Only the scrape/evaluation intervals and Alertmanager's group timers are shortened, in copies
written to a temporary directory (examples.shop.stack); the receivers' channels (Slack,
e-mail, PagerDuty) are replaced by a webhook this test runs, one path per receiver, so the
route an alert took is visible. Needs `prometheus` and `prometheus-alertmanager`
(scripts/monitoring_tools.sh installs them).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.shop import stack as m

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
FAST_BURN = "SalerTracingErrorBudgetFastBurn"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
        reason="needs Debian's prometheus and prometheus-alertmanager "
        "(bash scripts/monitoring_tools.sh)",
    ),
]

# What the dashboard variables are set to, as Grafana substitutes them.
VARIABLES = {
    "$environment": "demo",
    "$service": "(shop|payments)",
    "$route": ".*",
    "$__rate_interval": "15s",
    "$__range": "5m",
}
# Panels whose data the demo does not produce, and why.
NO_DEMO_DATA = {
    "Cache latency P95": "the shop uses no cache",
    "Job attempts by outcome": "the shop runs no background jobs",
    "Job queue wait P95": "the shop runs no background jobs",
    "Internal errors": "nothing fails inside saler_tracing (a failure would also fail tests)",
}


@contextmanager
def webhook() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A webhook receiver: every POST body, with the path it came to."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def servers(work: Path, hook: str, env: dict[str, str] | None = None) -> Iterator[tuple[Any, str]]:
    """The demo, Alertmanager and Prometheus (1 s intervals), torn down in reverse."""
    with ExitStack() as stacked:
        app = stacked.enter_context(m.demo(work, env))
        am_config = m.stage_alertmanager(work, webhook=hook, fast=True)
        am = stacked.enter_context(m.alertmanager(am_config, work, m.free_port()))
        config = m.stage_prometheus(work, app, am, environment="demo", interval="1s")
        prom = stacked.enter_context(m.prometheus(config, work, m.free_port()))
        yield app, prom


def instant(prom: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return list(body["data"]["result"])


def ranged(prom: str, expr: str) -> list[dict[str, Any]]:
    now = time.time()
    params = {"query": expr, "start": now - 120, "end": now, "step": 2}
    body = httpx.get(f"{prom}/api/v1/query_range", params=params, timeout=10).json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return [s for s in body["data"]["result"] if any(v != "NaN" for _, v in s["values"])]


def panels() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                yield path.stem, panel["title"], panel


def substitute(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    assert "$" not in expr.replace('"$1"', ""), f"unsubstituted variable in {expr}"
    return expr


def test_every_panel_query_parses_and_returns_the_demos_data(tmp_path: Path) -> None:
    # Every statement counts as slow, so the slow-statement panel has something to show.
    env = {"SALER_TRACING_DB_SLOW_THRESHOLD_MS": "0"}
    with webhook() as (hook, _), servers(tmp_path, hook, env) as (app, prom):
        with httpx.Client(timeout=10) as client:

            def traffic_recorded() -> bool:
                m.browse(app.shop, client)
                apdex = instant(prom, 'service:saler_tracing_apdex:ratio_rate5m{service="shop"}')
                # Every round reads /orders/1, the demo's N+1; against an empty history that is
                # a surge, so this alert fires and the "Alerts firing" panel has a row.
                surge = 'ALERTS{alertname="SalerTracingDbNPlusOneSurge", alertstate="firing"}'
                return bool(apdex and instant(prom, surge))

            m.wait_until(traffic_recorded, 90, "prometheus to record the shop's traffic")
            for _ in range(10):  # a few more scrapes' worth of traffic for the rate windows
                m.browse(app.shop, client)

            def empty_panels() -> dict[str, list[str]]:
                empty: dict[str, list[str]] = {}
                for board, title, panel in panels():
                    for target in panel["targets"]:
                        expr = substitute(target["expr"])
                        data = instant(prom, expr) if target.get("instant") else ranged(prom, expr)
                        if not data:
                            empty.setdefault(title, []).append(f"{board}: {expr}")
                return empty

            # Each rule group is evaluated on its own tick: one that has not run since the
            # traffic began leaves its panels empty for a tick or two (seen once with the 1 h
            # error ratio). Keep the traffic flowing and look again, for a bounded time.
            deadline = time.monotonic() + 30
            empty = empty_panels()
            while any(t not in NO_DEMO_DATA for t in empty) and time.monotonic() < deadline:
                m.browse(app.shop, client)
                time.sleep(0.5)
                empty = empty_panels()
        unexpected = {t: e for t, e in empty.items() if t not in NO_DEMO_DATA}
        assert not unexpected, f"panels without data: {json.dumps(unexpected, indent=1)}"
        produced = sorted(t for t in NO_DEMO_DATA if t not in empty)
        assert not produced, f"the demo now feeds {produced}: take them off NO_DEMO_DATA"


def _firing(prom: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == FAST_BURN and a["state"] == "firing"]


def _delivered(received: list[tuple[str, dict[str, Any]]], status: str) -> Any:
    for path, body in received:
        for alert in body["alerts"]:
            if alert["labels"]["alertname"] == FAST_BURN and alert["status"] == status:
                return path, alert
    return None


def test_an_error_spike_pages_through_alertmanager_and_resolves(tmp_path: Path) -> None:
    spike = {"product_id": 1, "quantity": 20, "email": "big@example.com"}  # payments declines
    with (
        webhook() as (hook, received),
        servers(tmp_path, hook) as (app, prom),
        httpx.Client(timeout=10) as client,
    ):
        m.wait_until(lambda: (m.browse(app.shop, client), instant(prom, "up == 1"))[1],
                     60, "prometheus to scrape the shop")  # fmt: skip
        assert not _firing(prom)
        # The first error creates the series; once Prometheus has it, the rest counts.
        assert client.post(f"{app.shop}/checkout", json=spike).status_code == 502
        errors = 'saler_tracing_request_errors_total{service="shop"}'
        m.wait_until(lambda: instant(prom, errors), 30, "the error counter to be scraped")
        for _ in range(10):
            assert client.post(f"{app.shop}/checkout", json=spike).status_code == 502
        m.wait_until(lambda: _firing(prom), 60, f"{FAST_BURN} to fire in Prometheus")
        path, alert = m.wait_until(
            lambda: _delivered(received, "firing"), 60, "Alertmanager to deliver the alert"
        )
        assert path == "/oncall"  # severity critical, team shop: the on-call route
        labels = alert["labels"]
        assert labels["service"] == "shop"
        assert labels["environment"] == "demo"
        assert labels["severity"] == "critical"
        assert labels["category"] == "errors"
        runbook = alert["annotations"]["runbook_url"]
        anchor = runbook.rsplit("#", 1)[1]
        assert runbook.endswith(f"docs/runbooks.md#{anchor}") and anchor == FAST_BURN.lower()
        headings = re.findall(r"^### (\w+)", (ROOT / "docs" / "runbooks.md").read_text(), re.M)
        assert FAST_BURN in headings
        assert "shop" in alert["annotations"]["summary"]

        # The spike is over: healthy requests bring the error ratio under both page
        # thresholds (1.44 % over 5 min and 1 h, 0.6 % over 30 min and 6 h).
        def recovered() -> bool:
            for _ in range(20):
                client.get(f"{app.shop}/products/2")
            return not _firing(prom)

        m.wait_until(recovered, 240, f"{FAST_BURN} to resolve in Prometheus")
        path, alert = m.wait_until(
            lambda: _delivered(received, "resolved"), 60, "Alertmanager to send the resolution"
        )
        assert path == "/oncall"
        assert alert["labels"]["service"] == "shop"


def test_alertmanager_routes_escalates_and_inhibits_as_configured(tmp_path: Path) -> None:
    """Alerts posted straight to a real Alertmanager on our routing: each reaches its receiver,
    and a service that is down has its error and latency alerts silenced."""
    common = {"environment": "demo", "service": "shop", "team": "shop"}
    posted = {
        "SalerTracingTargetDown": {"severity": "critical", "category": "availability"},
        "SalerTracingLatencyP95High": {"severity": "warning", "category": "latency"},
        FAST_BURN: {"severity": "critical", "category": "errors"},
        "SalerTracingAlertEscalated": {"severity": "page", "category": "escalation",
                                       "escalated": "SalerTracingTargetDown"},
        "SalerTracingWebhookSignatureFailures": {"severity": "critical", "category": "security",
                                                 "team": "security", "provider": "stripe"},
        "SalerTracingSpansDropped": {"severity": "warning", "category": "pipeline",
                                     "reason": "queue_full"},
    }  # fmt: skip
    expected = {
        "SalerTracingTargetDown": "/oncall",
        "SalerTracingAlertEscalated": "/pager",
        "SalerTracingWebhookSignatureFailures": "/security",
        "SalerTracingSpansDropped": "/platform",
    }
    with webhook() as (hook, received), ExitStack() as stacked:
        config = m.stage_alertmanager(tmp_path, webhook=hook, fast=True)
        am = stacked.enter_context(m.alertmanager(config, tmp_path, m.free_port()))
        alerts = [
            {"labels": {"alertname": name, **common, **labels},
             "annotations": {"summary": name, "runbook_url": f"docs/runbooks.md#{name.lower()}"}}
            for name, labels in posted.items()
        ]  # fmt: skip
        assert httpx.post(f"{am}/api/v2/alerts", json=alerts, timeout=10).status_code == 200

        def routed() -> dict[str, str]:
            found = {a["labels"]["alertname"]: path for path, b in received for a in b["alerts"]}
            return found if set(expected) <= set(found) else {}

        assert m.wait_until(routed, 30, "every alert to reach its receiver") == expected
        state = {
            a["labels"]["alertname"]: a["status"] for a in httpx.get(f"{am}/api/v2/alerts").json()
        }
        for silenced in (FAST_BURN, "SalerTracingLatencyP95High"):
            assert state[silenced]["state"] == "suppressed", silenced
            assert state[silenced]["inhibitedBy"], silenced
        assert not state["SalerTracingTargetDown"]["inhibitedBy"]
