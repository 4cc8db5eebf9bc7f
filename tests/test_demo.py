"""The README's first command: the demo runs the shop under traffic and shows its traces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_prints_traces_and_a_healthy_pipeline() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.shop.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "SERVER   GET /products" in out
    assert "SERVER   POST /checkout" in out
    assert "charge card" in out
    assert '"status": "ok"' in out
    assert "responses by status:" in out
