"""The same instrumentation on a FastAPI release without built-in telemetry (0.140), run in
the second virtual environment that ``make test`` builds (``.venv-compat``)."""

from __future__ import annotations

import pytest

from tests.helpers.scripts import ROOT, run_report

PYTHON = ROOT / ".venv-compat" / "bin" / "python"


def test_fastapi_without_builtin_telemetry_gets_one_server_span_each() -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON.relative_to(ROOT)} is missing: run `make test`, which builds it")
    report = run_report(PYTHON, "tests.core.compat_script")
    assert report["fastapi"].startswith("0.140")
    assert report["native"] is False
    assert report["statuses"] == [200, 500, 200, 200]
    assert report["traceresponse"] is True
    assert report["servers"] == ["GET /crash", "GET /items/{item_id}", "GET /v2/items/{item_id}"]
    assert report["routes"] == ["/crash", "/items/{item_id}", "/v2/items/{item_id}"]
