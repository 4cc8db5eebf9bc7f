"""The dependency map: one service's outbound edges to a database, a cache and a peer, with
calls, errors and latency, read from ``/api/v1/tracing/stats`` and Prometheus."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

import saler_tracing
from saler_tracing._internal import stats
from saler_tracing._internal.instrument import dependencies
from saler_tracing.testing import SpanCapture
from tests.helpers.servers import serve

from .conftest import PG_SYNC_URL


@pytest.mark.saler_tracing(service_name="shop")
def test_edges_in_stats_and_prometheus(
    metrics_registry: CollectorRegistry,
    span_capture: SpanCapture,
    pg: None,
    redis_url: str,
    suffix: str,
) -> None:
    peer_app = FastAPI()

    @peer_app.get("/stock")
    async def stock() -> dict[str, int]:
        return {"n": 3}

    engine = sa.create_engine(PG_SYNC_URL)
    cache = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_sqlalchemy()
    saler_tracing.instrument_redis()
    app = FastAPI()

    @app.get("/order")
    async def order() -> dict[str, Any]:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            with contextlib.suppress(sa.exc.ProgrammingError):
                conn.execute(sa.text("SELECT * FROM no_such_table_here"))
        cache.set(f"t:{suffix}", 1, ex=60)
        async with httpx.AsyncClient() as client:
            await client.get(f"{peer}/stock")
        return {"ok": True}

    try:
        with serve(peer_app) as peer, serve(app) as base:
            port = int(peer.rsplit(":", 1)[1])
            saler_tracing.instrument_httpx(peer_services={f"127.0.0.1:{port}": "inventory"})
            assert httpx.get(f"{base}/order").json() == {"ok": True}
            # The document /api/v1/tracing/stats serves (stats.collect() is its body).
            document = stats.collect()
    finally:
        engine.dispose()
    section = document["dependencies"]
    assert section["service"] == "shop"
    edges = {(e["kind"], e["peer"]): e for e in section["edges"]}
    db = edges["database", "postgresql://127.0.0.1:5432/test"]
    assert (db["from"], db["system"], db["calls"], db["errors"]) == ("shop", "postgresql", 2, 1)
    assert db["error_rate"] == 0.5
    assert db["latency_max_ms"] >= db["latency_avg_ms"] > 0
    cache_edge = edges["cache", "redis://127.0.0.1:6379/0"]
    assert (cache_edge["calls"], cache_edge["errors"]) == (1, 0)
    assert ("http", "127.0.0.1") in edges  # the test's own call to the service
    http_edge = edges["http", "inventory"]
    assert (http_edge["calls"], http_edge["errors"]) == (1, 0)

    labels = {"kind": "http", "system": "http", "peer": "inventory"}
    assert metrics_registry.get_sample_value("saler_tracing_dependency_calls_total", labels) == 1
    db_labels = {"kind": "database", "system": "postgresql", "peer": db["peer"]}
    errors = metrics_registry.get_sample_value("saler_tracing_dependency_errors_total", db_labels)
    assert errors == 1
    count = "saler_tracing_dependency_duration_seconds_count"
    assert metrics_registry.get_sample_value(count, db_labels) == 2


def test_edges_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dependencies, "MAX_EDGES", 2)
    first = dependencies.edge(dependencies.HTTP, "http", "a")
    dependencies.edge(dependencies.HTTP, "http", "b")
    third = dependencies.edge(dependencies.HTTP, "http", "c")
    fourth = dependencies.edge(dependencies.HTTP, "http", "d")
    assert first.peer == "a"
    assert third is fourth
    assert third.peer == "_other"
