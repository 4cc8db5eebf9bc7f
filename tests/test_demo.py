"""The README's first command: the demo runs the shop and its payments service into the local
trace server and prints the server's report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_reports_routes_dependencies_and_the_n_plus_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.shop.demo", "--requests", "80"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "shop answered 80 requests" in out
    for route in ("/products/{product_id}", "/checkout", "/orders/{order_id}", "/charges"):
        assert route in out
    assert "N+1 patterns" in out
    assert "GET /orders/{order_id}" in out  # the parent the N+1 was found under
    deps = out[out.index("Dependencies") :]
    assert "payments" in deps
    assert "sqlite" in deps
    assert "web view: http://127.0.0.1:" in out
