"""``saler-trace serve`` as a real subprocess on ephemeral ports: two exporting processes at
once lose nothing, and the CLI reads it back (from the server while it runs, from the file
after)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.harness import CLI, server_process, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_two_processes_export_concurrently_nothing_lost(tmp_path: Path) -> None:
    traces = 600  # × 5 spans per process
    with server_process(tmp_path) as info:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.server.exporter_proc",
                    "http",
                    f"{info['http']}/v1/traces",
                    "proc-http",
                    str(traces),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.server.exporter_proc",
                    "grpc",
                    f"http://127.0.0.1:{info['grpc_port']}",
                    "proc-grpc",
                    str(traces),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "done" in out

        def counts() -> dict[str, int] | None:
            stats = httpx.get(info["http"] + "/api/stats").json()
            if stats["spans_written"] < 2 * traces * 5:
                return None
            return {
                r["route"]: r["requests"]
                for r in httpx.get(info["http"] + "/api/routes", params={"since": 86400}).json()[
                    "routes"
                ]
            }

        wait_for(counts, 30, "all spans to be written")
        stats = httpx.get(info["http"] + "/api/stats").json()
        assert stats["spans_written"] == 2 * traces * 5
        assert stats["spans_rejected"] == 0
        for service in ("proc-http", "proc-grpc"):
            found = httpx.get(
                info["http"] + "/api/traces", params={"service": service, "limit": 500}
            ).json()
            assert len(found["traces"]) == 500
            assert {t["span_count"] for t in found["traces"]} == {5}

        # The CLI against the running server.
        report = _cli("report", "--url", info["http"], "--json")
        assert report.returncode == 0, report.stderr
        data = json.loads(report.stdout)
        assert sum(r["requests"] for r in data["routes"]) == 2 * traces
        listed = _cli(
            "traces", "--url", info["http"], "--service", "proc-http", "--json", "--limit", "3"
        )
        trace_id = json.loads(listed.stdout)[0]["trace_id"]
        shown = _cli("trace", trace_id, "--url", info["http"])
        assert shown.returncode == 0, shown.stderr
        assert "GET /r" in shown.stdout
        assert "SELECT" in shown.stdout
        assert "█" in shown.stdout
        # While the server holds the file, --db finds the server through its record.
        beside = _cli("report", "--db", info["db_path"], "--json")
        assert beside.returncode == 0, beside.stderr
        assert sum(r["requests"] for r in json.loads(beside.stdout)["routes"]) == 2 * traces
        db = info["db_path"]

    # After the server stopped: the same answers from the file.
    tables = _cli("report", "--db", db)
    assert tables.returncode == 0, tables.stderr
    for title in ("Routes", "Service health", "Dependencies", "Slow statements"):
        assert title in tables.stdout
    assert "/r0" in tables.stdout
    errors = _cli("traces", "--db", db, "--status", "error")
    assert errors.returncode == 0
    assert "0 traces" in errors.stdout
    bad = _cli("traces", "--db", db, "--attr", "novalue")
    assert bad.returncode == 2
    # Time range: everything was exported just now, nothing in 2000; a bad time is refused.
    now = _cli("traces", "--db", db, "--start", "2000-01-01T00:00", "--json", "--limit", "5")
    assert len(json.loads(now.stdout)) == 5
    old = _cli("traces", "--db", db, "--start", "2000-01-01", "--end", "2000-01-02")
    assert old.returncode == 0
    assert "0 traces" in old.stdout
    assert _cli("traces", "--db", db, "--start", "yesterday").returncode == 2
    missing = _cli("trace", "0" * 31 + "1", "--db", db)
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_serve_refuses_public_bind_without_token(tmp_path: Path) -> None:
    result = _cli(
        "serve", "--host", "0.0.0.0", "--http-port", "0", "--db", str(tmp_path / "x.duckdb")
    )
    assert result.returncode == 2
    assert "without a token" in result.stderr
