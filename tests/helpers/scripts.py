"""Run a test script module in a process of its own and read the JSON line it prints last:
for what must not share the test process (a global provider set once, another venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_report(python: str | Path, module: str, timeout: float = 120) -> dict[str, Any]:
    """``python -m module`` from the project root; fails the test with its stderr if it fails."""
    result = subprocess.run(
        [str(python), "-m", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report
