"""Logs in the trace, end to end: FastAPI apps logging with stdlib ``logging`` and with
structlog, served by uvicorn over real HTTP, exporting over OTLP (HTTP and gRPC) to the real
``saler-trace serve`` (a subprocess). The ids printed in the application's own log output
match the spans the server stored; WARNING+ records arrive on the right span, scrubbed;
sampled-out traces export no logs, unless an ERROR record keeps them; the CLI prints the
records under their span."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from pythonjsonlogger.json import JsonFormatter

import saler_tracing
from saler_tracing import ExportOptions, SamplingOptions
from tests.server.harness import CLI, server_process, wait_for

pytestmark = pytest.mark.slow
LINE = re.compile(r"\[trace_id=(\w*) span_id=(\w*) service=([\w-]*)\] (.*)")


@pytest.fixture(scope="module")
def trace_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with server_process(tmp_path_factory.mktemp("serve")) as info:
        yield info


def _get(server: dict[str, Any], path: str) -> Any:
    response = httpx.get(server["http"] + path, timeout=10)
    return response.json() if response.status_code == 200 else None


def _trace(server: dict[str, Any], trace_id: str, logs: int) -> dict[str, Any]:
    """The stored trace once it has its spans and ``logs`` log records."""

    def ready() -> Any:
        doc = _get(server, f"/api/traces/{trace_id}")
        return doc if doc and len(doc["logs"]) >= logs else None

    return wait_for(ready, 20, f"trace {trace_id} with {logs} log records on the server")  # type: ignore[no-any-return]


def _stdlib_app() -> tuple[FastAPI, io.StringIO, io.StringIO]:
    text, doc = io.StringIO(), io.StringIO()
    log = logging.getLogger("shop.checkout")
    log.setLevel(logging.INFO)
    log.propagate = False
    plain = logging.StreamHandler(text)
    plain.setFormatter(logging.Formatter(saler_tracing.LOG_FORMAT))
    as_json = logging.StreamHandler(doc)
    as_json.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    log.handlers = [plain, as_json]
    app = FastAPI()

    @app.get("/checkout")
    def checkout() -> dict[str, str]:
        log.info("checkout started")  # below the shipping level: printed, not exported
        log.warning("card 4111 1111 1111 1111 declined for bob@example.com", extra={"order_id": 17})
        return {"ok": "declined"}

    @app.get("/quiet/warn")
    def quiet_warn() -> dict[str, str]:
        log.warning("quiet route warned")
        return {"ok": "yes"}

    @app.get("/quiet/fail")
    def quiet_fail() -> dict[str, str]:
        log.error("payment backend unreachable")
        return {"ok": "degraded"}

    saler_tracing.instrument_fastapi(app)
    return app, text, doc


def _configure(server: dict[str, Any], protocol: str, service: str) -> None:
    endpoint = (
        server["http"] if protocol == "http/protobuf" else f"http://127.0.0.1:{server['grpc_port']}"
    )
    saler_tracing.configure(
        service_name=service,
        export=ExportOptions(endpoint=endpoint, protocol=protocol, schedule_delay_ms=100),
        # Head: /quiet/* never sampled; the tail still keeps a trace that logged an ERROR.
        sampling=SamplingOptions(rules="route=/quiet/*=>0"),
    )


def _line(text: str, message: str) -> tuple[str, str, str]:
    for match in LINE.finditer(text):
        if match.group(4).startswith(message):
            return match.group(1), match.group(2), match.group(3)
    raise AssertionError(f"no line {message!r} in:\n{text}")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_stdlib_logs_arrive_on_their_span_scrubbed_and_sampled_with_the_trace(
    trace_server: dict[str, Any], protocol: str
) -> None:
    from tests.helpers.servers import serve

    service = "shop-" + protocol.split("/")[0]
    app, text, doc = _stdlib_app()
    _configure(trace_server, protocol, service)
    with serve(app) as base:
        for path in ("/checkout", "/quiet/warn", "/quiet/fail"):
            assert httpx.get(base + path, timeout=10).status_code == 200
    assert saler_tracing.force_flush(10)
    out = text.getvalue()

    # The ids in the formatted output are those of the exported server span.
    trace_id, span_id, named = _line(out, "card ")
    assert named == service
    json_line = next(json.loads(x) for x in doc.getvalue().splitlines() if "card " in x)
    assert (json_line["trace_id"], json_line["span_id"]) == (trace_id, span_id)
    stored = _trace(trace_server, trace_id, logs=1)
    spans = {s["span_id"]: s for s in stored["spans"]}
    assert spans[span_id]["name"] == "GET /checkout"
    (record,) = stored["logs"]  # the INFO line stayed local
    assert record["span_id"] == span_id
    assert record["severity_text"] == "WARNING"
    assert record["service_name"] == service
    assert record["scope"] == "shop.checkout"
    assert record["attributes"]["order_id"] == 17
    # Scrubbed as span data is: neither the card number nor the address left the process.
    assert "4111" not in json.dumps(record) and "bob@example.com" not in json.dumps(record)
    assert record["body"].startswith("card [REDACTED:")
    assert "4111 1111 1111 1111" in out  # the application's own output is its business

    # Sampled out: printed with its ids (flags 00), but neither spans nor logs exported...
    quiet_trace, _, _ = _line(out, "quiet route warned")
    assert (
        json.loads(next(x for x in doc.getvalue().splitlines() if "quiet route" in x))[
            "trace_flags"
        ]
        == "00"
    )
    # ...unless it logged an ERROR: the tail keeps that trace, with its record.
    failed_trace, failed_span, _ = _line(out, "payment backend unreachable")
    kept = _trace(trace_server, failed_trace, logs=1)
    assert [r["span_id"] for r in kept["logs"]] == [failed_span]
    assert kept["logs"][0]["severity_text"] == "ERROR"
    failed_span_doc = next(x for x in kept["spans"] if x["span_id"] == failed_span)
    assert failed_span_doc["attributes"]["saler.log.error"] is True  # why the tail kept it
    assert _get(trace_server, f"/api/traces/{quiet_trace}") is None  # no spans, no logs
    figures = saler_tracing._internal.setup.active().logs.figures()  # type: ignore[union-attr]
    assert figures["sampled_out"] == 1
    assert figures["exported"] == 2

    # saler-trace trace ID prints the record under its span.
    shown = subprocess.run(
        [*CLI, "trace", trace_id, "--url", trace_server["http"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = shown.splitlines()
    at = next(i for i, x in enumerate(lines) if "GET /checkout" in x)
    assert "WARNING card [REDACTED:" in lines[at + 1]


def test_structlog_events_arrive_with_the_trace(trace_server: dict[str, Any]) -> None:
    from tests.helpers.servers import serve

    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            saler_tracing.add_trace_context,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    app = FastAPI()
    log = structlog.get_logger("refunds")

    @app.post("/refund")
    def refund() -> dict[str, str]:
        log.info("refund requested")
        log.warning("refund failed", user="alice@example.com", amount=12)
        return {"ok": "no"}

    saler_tracing.instrument_fastapi(app)
    _configure(trace_server, "http/protobuf", "refunds")
    try:
        with serve(app) as base:
            assert httpx.post(base + "/refund", timeout=10).status_code == 200
        assert saler_tracing.force_flush(10)
    finally:
        structlog.reset_defaults()
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    failed = next(e for e in events if e["event"] == "refund failed")
    stored = _trace(trace_server, failed["trace_id"], logs=1)
    spans = {s["span_id"]: s for s in stored["spans"]}
    assert spans[failed["span_id"]]["name"] == "POST /refund"
    (record,) = stored["logs"]
    assert record["span_id"] == failed["span_id"]
    assert record["body"] == "refund failed"
    assert record["severity_text"] == "WARNING"
    assert record["attributes"]["amount"] == 12
    assert record["attributes"]["user"] != "alice@example.com"  # scrubbed
    assert "alice@example.com" not in json.dumps(stored["logs"])


def test_server_refuses_malformed_logs_and_keeps_the_rest(trace_server: dict[str, Any]) -> None:
    """``/v1/logs`` as a client other than ours uses it: OTLP/JSON, a bad id rejected alone."""
    good = "ab" * 16
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "j"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "json-client"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "severityText": "WARN",
                                "body": {"stringValue": "from json"},
                                "traceId": good,
                                "spanId": "cd" * 8,
                            },
                            {"traceId": "xyz", "spanId": "cd" * 8, "body": {"stringValue": "bad"}},
                        ],
                    }
                ],
            }
        ]
    }
    response = httpx.post(trace_server["http"] + "/v1/logs", json=body, timeout=10)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    garbage = httpx.post(
        trace_server["http"] + "/v1/logs",
        content=b"\xff\xff\xff",
        headers={"content-type": "application/x-protobuf"},
        timeout=10,
    )
    assert garbage.status_code == 400
    stats = _get(trace_server, "/api/stats")
    assert stats["logs_written"] >= 1
