from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Bugs inside tracing must fail our tests, not hide behind the guard.
os.environ.setdefault("SALER_TRACING_RAISE_INTERNAL_ERRORS", "1")


@pytest.fixture(autouse=True)
def _reset_tracing() -> Iterator[None]:
    """Every test starts and ends with tracing shut down."""
    from saler_tracing._internal import setup

    yield
    setup.shutdown(timeout_s=5)
