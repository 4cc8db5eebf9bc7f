"""The same instrumentation on a FastAPI release without built-in telemetry (0.140), run in
the second virtual environment that ``make test`` builds (``.venv-compat``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-compat" / "bin" / "python"


def test_fastapi_without_builtin_telemetry_gets_one_server_span_each() -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON.relative_to(ROOT)} is missing: run `make test`, which builds it")
    result = subprocess.run(
        [str(PYTHON), "-m", "tests.core.compat_script"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["fastapi"].startswith("0.140")
    assert report["native"] is False
    assert report["statuses"] == [200, 500, 200, 200]
    assert report["traceresponse"] is True
    assert report["servers"] == ["GET /crash", "GET /items/{item_id}", "GET /v2/items/{item_id}"]
    assert report["routes"] == ["/crash", "/items/{item_id}", "/v2/items/{item_id}"]
