"""The CLI reads as well as the web view: plain-text help, ``--since`` in 15m/2h/1d, and a
report that fits an 80-column terminal with every route whole (statements wrap instead)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
