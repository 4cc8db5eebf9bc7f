"""What ``saler-trace serve`` acknowledges, it keeps: against real server processes and real
clients — the plain OpenTelemetry SDK's exporter where it can send the case, raw HTTP where it
cannot. Poison requests next to a good stream, SIGKILL mid-stream, a client clock hours ahead,
NaN and infinite attributes (API, CLI, web view), foreign ``Host`` headers."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from saler_tracing.server.store.duckdb_store import DuckDBStore
from tests.server.harness import CLI, server_process, server_thread, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HOUR_NS = 3600 * 10**9
JSON = {"content-type": "application/json"}
PB = {"content-type": "application/x-protobuf"}


def _sdk_spans(n: int, service: str = "good", **attributes: Any) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test_acknowledged")
    for i in range(n):
        with tracer.start_as_current_span(
            f"GET /g{i % 3}",
            kind=SpanKind.SERVER,
            attributes={"http.route": f"/g{i % 3}", **attributes},
        ):
            pass
    return list(exporter.get_finished_spans())


class GoodClient(threading.Thread):
    """Exports pre-built spans 512 at a time with the SDK's OTLP/HTTP exporter until stopped;
    keeps the span ids of every export answered with success."""

    def __init__(self, url: str, spans: list[ReadableSpan]) -> None:
        super().__init__(daemon=True)
        self.exporter = OTLPSpanExporter(endpoint=url + "/v1/traces", timeout=3)
        self.spans = spans
        self.acked: set[str] = set()
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        for at in range(0, len(self.spans), 512):
            if self.stop.is_set():
                return
            chunk = self.spans[at : at + 512]
            if self.exporter.export(chunk) is SpanExportResult.SUCCESS:
                self.acked.update(f"{s.context.span_id:016x}" for s in chunk)
            else:
                self.failed += 1


def _stored_span_ids(db: str, service: str = "good") -> set[str]:
    store = DuckDBStore(db, read_only=True)
    try:
        return {r[0] for r in store.sql("SELECT span_id FROM spans WHERE service = ?", [service])}
    finally:
        store.close()


def _json_request(n: int, **fields: Any) -> bytes:
    now = time.time_ns()
    span = {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": "poison",
        "startTimeUnixNano": str(now - 10**6),
        "endTimeUnixNano": str(now),
        **fields,
    }
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "bad"}}]
                },
                "scopeSpans": [{"spans": [span]}],
            }
        ]
    }
    return json.dumps(doc).encode()  # ensure_ascii: a lone surrogate goes as "\ud800"


def _pb_request(n: int, **fields: Any) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = n.to_bytes(16, "big")
    span.span_id = n.to_bytes(8, "big")
    span.name = "poison"
    span.start_time_unix_nano = time.time_ns() - 10**6
    span.end_time_unix_nano = time.time_ns()
    for key, value in fields.items():
        setattr(span, key, value)
    return request.SerializeToString()


POISON_JSON = [  # (fields, rejected): values out of range for the store
    ({"startTimeUnixNano": str(-(2**63)), "endTimeUnixNano": str(2**63 - 1)}, 1),
    ({"kind": 300}, 0),
    ({"status": {"code": -1}}, 0),
    ({"startTimeUnixNano": str(2**70)}, 1),
    ({"name": "\ud800 lone surrogate"}, 0),
]
POISON_PB = [  # what the decoder processes died of: a time >= 2^63, a kind >= 256
    ({"start_time_unix_nano": 2**63 + 5}, 1),
    ({"end_time_unix_nano": 2**64 - 1}, 1),
    ({"kind": 300}, 0),
]


def test_poison_requests_never_cost_another_clients_acknowledged_spans(tmp_path: Path) -> None:
    spans = _sdk_spans(40_000)
    with server_process(tmp_path) as info:
        url = info["http"]
        good = GoodClient(url, spans)
        good.start()
        n = 0
        answers: list[tuple[int, httpx.Response]] = []  # (rejected expected, answer)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and good.is_alive():
            for fields, rejected in POISON_JSON:
                n += 1
                r = httpx.post(url + "/v1/traces", content=_json_request(n, **fields), headers=JSON)
                answers.append((rejected, r))
            for fields, rejected in POISON_PB:
                n += 1
                r = httpx.post(url + "/v1/traces", content=_pb_request(n, **fields), headers=PB)
                answers.append((rejected, r))
            time.sleep(0.05)
        good.stop.set()
        good.join(30)
        assert len(good.acked) >= 2048 and good.failed == 0
        wait_for(
            lambda: httpx.get(url + "/api/stats").json()["spans_written"] >= len(good.acked),
            30,
            "the acknowledged spans to be written",
        )
        stats = httpx.get(url + "/api/stats").json()
        kinds = httpx.get(url + f"/api/traces/{2:032x}").json()["spans"]
        db = info["db_path"]
    lost = good.acked - _stored_span_ids(db)
    assert not lost, f"{len(lost)} of {len(good.acked)} acknowledged good spans lost"
    assert stats["dropped_write_error"] == 0
    assert stats["decoder_restarts"] == 0  # the decoders refused, not died
    # Every poison case answered 200, its out-of-range span rejected or adjusted and named.
    for rejected, r in answers:
        assert r.status_code == 200, r.content
        if r.headers["content-type"] == JSON["content-type"]:
            partial = r.json()["partialSuccess"]
            assert (int(partial["rejectedSpans"]), bool(partial["errorMessage"])) == (
                rejected,
                True,
            )
        else:
            answer = ExportTraceServiceResponse.FromString(r.content).partial_success
            assert (answer.rejected_spans, bool(answer.error_message)) == (rejected, True)
    assert stats["spans_normalised"] == 4 * len(answers) // 8
    assert kinds[0]["kind"] == "UNSPECIFIED"  # kind 300 kept as UNSPECIFIED
    assert any(r[0] == "\ufffd lone surrogate" for r in _rows(db, "SELECT name FROM spans"))


def _rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    store = DuckDBStore(db, read_only=True)
    try:
        return store.sql(sql)
    finally:
        store.close()


def test_sigkill_mid_stream_loses_no_acknowledged_span(tmp_path: Path) -> None:
    spans = _sdk_spans(60_000)
    with server_process(tmp_path) as info:
        good = GoodClient(info["http"], spans)
        good.start()
        wait_for(lambda: len(good.acked) >= 8192, 60, "8,192 spans acknowledged")
        info["proc"].kill()  # SIGKILL: no shutdown, no flush
        info["proc"].wait(10)
        good.stop.set()  # the export under way fails: its spans were never acknowledged
        good.join(60)
        acked = set(good.acked)
    assert acked
    (tmp_path / "ready.json").unlink()
    with server_process(tmp_path) as info:  # the same database: the journal is replayed
        stats = httpx.get(info["http"] + "/api/stats").json()
        db = info["db_path"]
    stored = _stored_span_ids(db)
    assert not acked - stored, f"{len(acked - stored)} of {len(acked)} acknowledged spans lost"
    assert stats["replayed_from_journal"] > 0  # the staging window held acknowledged spans


@pytest.fixture
def skewed_and_nan(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A server holding: 30 spans now, one span a client dated 2 h ahead, one with NaN and
    infinite double attributes — all sent with the SDK's exporter."""
    with server_process(tmp_path) as info:
        exporter = OTLPSpanExporter(endpoint=info["http"] + "/v1/traces")
        normal = _sdk_spans(30)
        provider = TracerProvider(resource=Resource.create({"service.name": "skewed"}))
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        ahead = time.time_ns() + 2 * HOUR_NS
        future = provider.get_tracer("t").start_span("GET /future", start_time=ahead)
        future.end(end_time=ahead + 5 * 10**6)
        odd = _sdk_spans(1, "odd", ratio=math.nan, high=math.inf, low=-math.inf)
        for chunk in (normal, list(memory.get_finished_spans()), odd):
            assert exporter.export(chunk) is SpanExportResult.SUCCESS
        wait_for(
            lambda: httpx.get(info["http"] + "/api/stats").json()["spans_written"] == 32,
            15,
            "32 spans written",
        )
        yield {
            **info,
            "normal": {f"{s.context.trace_id:032x}" for s in normal},
            "future": f"{future.get_span_context().trace_id:032x}",
            "odd": f"{odd[0].context.trace_id:032x}",
            "sent_ahead": ahead,
        }


NON_FINITE = ("nan", "inf", "-inf", "1e400")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_skewed_and_non_finite_spans_read_back_in_api_and_cli(
    skewed_and_nan: dict[str, Any],
) -> None:
    url = skewed_and_nan["http"]
    # The default one-hour views still show the data of now, not only the skewed span.
    listed = {t["trace_id"] for t in httpx.get(url + "/api/traces").json()["traces"]}
    assert skewed_and_nan["normal"] <= listed
    routes = {
        (r["service"], r["route"]): r["requests"]
        for r in httpx.get(url + "/api/routes").json()["routes"]
    }
    assert routes["good", "/g0"] == 10
    # The skewed span is kept, moved back to its arrival, flagged with the shift.
    (span,) = httpx.get(url + f"/api/traces/{skewed_and_nan['future']}").json()["spans"]
    assert span["end_ns"] <= time.time_ns()
    assert span["duration_ms"] == pytest.approx(5.0)
    shift = span["attributes"]["saler_trace.clock_skew_ns"]
    assert 2 * HOUR_NS - 60 * 10**9 < shift <= 2 * HOUR_NS + 5 * 10**6
    assert httpx.get(url + "/api/stats").json()["spans_clock_adjusted"] == 1
    # NaN and infinities: valid JSON, read back as the strings OTLP/JSON uses.
    odd = httpx.get(url + f"/api/traces/{skewed_and_nan['odd']}")
    assert odd.status_code == 200
    attributes = odd.json()["spans"][0]["attributes"]
    assert (attributes["ratio"], attributes["high"], attributes["low"]) == (
        "NaN",
        "Infinity",
        "-Infinity",
    )
    shown = _cli("trace", skewed_and_nan["odd"], "--url", url)
    assert shown.returncode == 0, shown.stderr
    as_json = _cli("trace", skewed_and_nan["odd"], "--url", url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert '"NaN"' in as_json.stdout
    found = _cli("traces", "--url", url, "--json", "--limit", "100")
    assert skewed_and_nan["normal"] <= {t["trace_id"] for t in json.loads(found.stdout)}
    # Parameters that are no number a window can use: 400, never 500.
    bad = [f"/api/{p}?since={v}" for p in ("traces", "routes", "report", "map") for v in NON_FINITE]
    bad += ["/api/traces?limit=1e400", "/api/traces?start_ns=1e300", "/api/traces?min_ms=nan"]
    for path in bad:
        r = httpx.get(url + path)
        assert r.status_code == 400, (path, r.status_code)
        assert "finite" in r.json()["error"]


def test_skewed_and_non_finite_spans_in_the_web_view(skewed_and_nan: dict[str, Any]) -> None:
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists() and shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    url = skewed_and_nan["http"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url + "/#/traces")
        page.wait_for_selector("body[data-ready=traces]")
        listed = page.eval_on_selector_all(
            "#trace-results tbody tr[data-trace]", "rows => rows.map(r => r.dataset.trace)"
        )
        assert skewed_and_nan["normal"] <= set(listed)
        page.goto(url + f"/#/trace/{skewed_and_nan['odd']}")
        page.wait_for_selector("body[data-ready=trace]")
        assert "not found" not in page.inner_text("#trace-title")
        page.click(".wf-row")
        details = page.inner_text("#span-details")
        assert "NaN" in details and "Infinity" in details
        browser.close()
    assert problems == []


ENDPOINTS = [
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/api/services"),
    ("GET", "/api/traces"),
    ("GET", f"/api/traces/{1:032x}"),
    ("GET", "/api/routes"),
    ("GET", "/api/health"),
    ("GET", "/api/errors"),
    ("GET", "/api/map"),
    ("GET", "/api/trends"),
    ("GET", "/api/bottlenecks?service=s&route=r"),
    ("GET", "/api/report"),
    ("GET", "/api/stats"),
    ("POST", "/v1/traces"),
]


def _host_answers(info: dict[str, Any], hosts: list[str]) -> dict[tuple[str, str], int]:
    answers = {}
    for method, path in ENDPOINTS:
        body = _json_request(1) if method == "POST" else None
        for host in hosts:
            r = httpx.request(
                method, info["http"] + path, headers={**JSON, "host": host}, content=body
            )
            answers[path, host] = r.status_code
            if r.status_code == 403:
                assert "--allow-host" in r.json()["error"]
    return answers


def test_foreign_host_headers_are_refused_on_every_endpoint(tmp_path: Path) -> None:
    with server_process(tmp_path) as info:
        port = info["http_port"]
        foreign = ["rebind.attacker.example", f"rebind.attacker.example:{port}"]
        local = [f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"]
        answers = _host_answers(info, foreign + local)
    assert {k: v for k, v in answers.items() if k[1] in foreign and v != 403} == {}
    assert {k: v for k, v in answers.items() if k[1] in local and v == 403} == {}
    (tmp_path / "named").mkdir()
    with server_process(tmp_path / "named", "--allow-host", "traces.internal.example") as info:
        allowed = _host_answers(info, [f"traces.internal.example:{info['http_port']}"])
        refused = _host_answers(info, ["other.example"])
    assert 403 not in allowed.values()
    assert set(refused.values()) == {403}


def test_second_serve_on_the_same_database_says_which_server_holds_it(tmp_path: Path) -> None:
    with server_process(tmp_path) as info:
        second = subprocess.run(
            [*CLI, "serve", "--db", info["db_path"], "--http-port", "0", "--grpc-port", "-1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(info["proc"].pid) in lines[0]
        assert info["db_path"] in lines[0]
        assert info["http"] in lines[0]  # from the address record beside the database


def test_slow_and_half_sent_requests_are_timed_out() -> None:
    """Slowloris: connections that never finish their headers, or their body, are closed at
    their deadline; a whole request still works meanwhile."""
    with server_thread(header_timeout_s=1.0, body_timeout_s=2.0) as server:
        port = server.http_port
        socks = []
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i % 3 == 0:
                pass  # connected, sends nothing
            elif i % 3 == 1:
                sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            else:
                sock.sendall(
                    b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"res'
                )
            sock.setblocking(False)
            socks.append(sock)
        assert httpx.get(f"http://127.0.0.1:{port}/api/stats").status_code == 200

        def all_closed() -> bool:
            for sock in list(socks):
                try:
                    if sock.recv(65536) == b"":
                        socks.remove(sock)
                        sock.close()
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    socks.remove(sock)
                    sock.close()
            return not socks

        started = time.monotonic()
        wait_for(all_closed, 15, "the server to close every slow connection")
        assert time.monotonic() - started < 10
