"""The CLI reads as well as the web view: plain-text help, ``--since`` in 15m/2h/1d, and a
report that fits an 80-column terminal with every route whole (statements wrap instead)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from saler_tracing.server.cli.main import duration_s
from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.seam import Retention
from tests.server.builders import batch, request
from tests.server.timeline import timeline

CLI = [sys.executable, "-m", "saler_tracing.server"]
LONG_ROUTE = "/api/v2/customers/{customer_id}/orders/{order_id}/refunds"


def run(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["traces", "--help"]])
def test_help_is_plain_text(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 0, out.stderr
    for mark in ("``", "<bool>", "╭", "│", "[bold"):
        assert mark not in out.stdout
    assert out.stdout.startswith("Usage: saler-trace")
    if args != ["--help"]:
        assert "15m" in out.stdout


def test_since_accepts_units() -> None:
    assert [duration_s(x) for x in ("900", "90s", "15m", "2h", "1d", "1h30m")] == [
        900,
        90,
        900,
        7200,
        86400,
        5400,
    ]
    for bad in ("15x", "", "m", "0"):
        with pytest.raises(typer.BadParameter):
            duration_s(bad)
    out = run("report", "--since", "15x")
    assert out.returncode == 2 and "15m, 2h or 1d" in out.stderr


def test_report_fits_80_columns_with_routes_whole(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    store = DuckDBStore(db, retention=Retention(max_age_s=None, max_bytes=None))
    spans = timeline().spans
    for i in range(20):
        root = request(LONG_ROUTE, 3_500_000 + i * 1000, 30, service="payments-gateway")
        spans.append(root)
        spans.append(
            root.child(
                "SELECT",
                3_500_000 + i * 1000 + 1,
                3_500_000 + i * 1000 + 29,
                kind=3,
                attrs={
                    "db.system.name": "postgresql",
                    "db.query.text": "SELECT refunds.id, refunds.amount, refunds.currency, "
                    f"refunds.created_at FROM refunds WHERE refunds.order_id = {i}",
                },
            )
        )
    assert store.write(batch(spans)) and store.flush()
    store.close()
    out = run("report", "--db", db, "--since", "2h")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out.stdout  # nothing cut
    # The long route wraps in its column (whole, read down the lines); short ones on one line.
    assert LONG_ROUTE in "".join(out.stdout.split())
    assert any(
        re.search(r"shop +/orders +360 +0\.10 +10\.0% +50\.0 +120\.0 +120\.0", x) for x in lines
    )
    assert any("/sale" in line and "flash" in line and "1.02" in line for line in lines)


def _stress_report(rows: int) -> dict[str, Any]:
    """Long names everywhere: the tables cannot show them on one line at 80 columns."""
    errors = [
        {
            "service": f"payments-gateway-{i}",
            "exception_type": "sqlalchemy.exc.IntegrityError",
            "message": "duplicate key value violates unique constraint orders_pkey",
            "top_frame": "app/orders/service.py:142 in create_order",
            "count": 1234567,
            "traces": 99999,
            "last_seen_ns": 1_700_000_000_000_000_000,
            "example_traces": [f"{i:02x}" + "4bf92f3577b34da6a3ce929d0e0e47"],
        }
        for i in range(rows)
    ]
    n_plus_one = [
        {
            "service": f"shop-api-service-with-a-long-name-{i}",
            "parent": "GET /orders/{order_id}/items/{item_id}/history",
            "statement": "SELECT order_items.id, order_items.sku FROM order_items WHERE id = $1",
            "traces": 120,
            "max_repeats": 57,
            "example_trace": f"{i:02x}" + "00f067aa0ba902b700f067aa0ba902",
        }
        for i in range(rows)
    ]
    return {
        "routes": [],
        "health": [],
        "trends": {"routes": [], "versions": []},
        "bottlenecks": [],
        "slow_statements": [],
        "dependency_map": {"edges": []},
        "errors": errors,
        "n_plus_one": n_plus_one,
    }


@pytest.mark.parametrize("width", [80, 120])
def test_example_trace_ids_and_numbers_are_never_cut(width: int) -> None:
    from rich.console import Console

    from saler_tracing.server.cli.render import report_tables

    report = _stress_report(12)
    console = Console(width=width, record=True, color_system=None)
    console.print(report_tables(report))
    out = console.export_text()
    assert max(len(line) for line in out.splitlines()) <= width
    words = set(out.split())
    ids = [g["example_traces"][0] for g in report["errors"]]
    ids += [p["example_trace"] for p in report["n_plus_one"]]
    for tid in ids:
        assert tid in words, f"trace id {tid} not printed whole"
    # Numbers never wrap and are never cropped.
    assert "1234567" in words and "99999" in words and "57" in words
    assert "[12]" in words  # the reference from the row to its example
