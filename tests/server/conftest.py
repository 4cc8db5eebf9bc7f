from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.seam import Retention

# Every backend the conformance suite runs against: add a factory here for a new one.
BACKENDS = ["duckdb-memory", "duckdb-file"]


def make_store(kind: str, tmp_path: Path, retention: Retention | None = None) -> DuckDBStore:
    retention = retention or Retention(max_age_s=None, max_bytes=None, check_every_s=3600)
    if kind == "duckdb-memory":
        return DuckDBStore(":memory:", retention=retention)
    if kind == "duckdb-file":
        return DuckDBStore(str(tmp_path / "spans.duckdb"), retention=retention)
    raise AssertionError(kind)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[DuckDBStore]:
    s = make_store(backend, tmp_path)
    yield s
    s.close()
