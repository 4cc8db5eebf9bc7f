"""Redis commands as CLIENT spans against real Redis servers: masked arguments, pipelines,
MULTI/EXEC, publish, asyncio, and failures (refused, timeout, WRONGTYPE, a server that goes
away) that behave exactly as untraced."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio
from prometheus_client import CollectorRegistry

import saler_tracing
from saler_tracing import MissingExtraError
from saler_tracing._internal import stats
from saler_tracing.testing import SpanCapture

from .conftest import RedisServer, attribute_values, free_port


def redis_spans(capture: SpanCapture) -> list[Any]:
    return [s for s in capture.spans() if (s.attributes or {}).get("db.system.name") == "redis"]


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """What a call did, comparable between a traced and an untraced run."""
    try:
        return "ok", fn()
    except Exception as exc:
        return "raised", type(exc)


def test_commands_are_masked_spans(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture, redis_url: str, suffix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_redis()
    key = f"t:{suffix}:user"
    with saler_tracing.span("request"):
        client.set(key, "secret-value", ex=60)
        assert client.get(key) == b"secret-value"
        client.publish(f"t:{suffix}:channel", "secret-message")
        client.delete(key)
    spans = redis_spans(span_capture)
    assert [s.name for s in spans] == ["SET", "GET", "PUBLISH", "DEL"]
    set_span = spans[0]
    assert set_span.kind.name == "CLIENT"
    assert dict(set_span.attributes or {}) == {
        "db.system.name": "redis",
        "db.namespace": "0",
        "server.address": "127.0.0.1",
        "server.port": 6379,
        "db.operation.name": "SET",
        "db.query.text": "SET ? ? ? ?",
    }
    assert spans[2].attributes["db.query.text"] == "PUBLISH ? ?"
    request = span_capture.one("request")
    assert {s.parent.span_id for s in spans} == {request.context.span_id}
    leaked = attribute_values(span_capture.spans())
    for secret in ("secret-value", "secret-message", suffix):
        assert secret not in leaked
    durations = metrics_registry.get_sample_value(
        "saler_tracing_redis_command_duration_seconds_count", {"command": "SET"}
    )
    assert durations == 1


def test_keys_only_when_opted_in(span_capture: SpanCapture, redis_url: str, suffix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_redis(client, capture_keys=True)
    client.set(f"t:{suffix}", "v", ex=60)
    (span,) = redis_spans(span_capture)
    assert span.attributes["db.query.text"] == f"SET t:{suffix} ? ? ?"


def test_pipeline_and_multi_exec_are_one_span(
    span_capture: SpanCapture, redis_url: str, suffix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_redis()
    with client.pipeline(transaction=False) as pipe:
        pipe.set(f"t:{suffix}:a", 1, ex=60).incr(f"t:{suffix}:a").get(f"t:{suffix}:a")
        assert pipe.execute() == [True, 2, b"2"]
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(f"t:{suffix}:a").exists(f"t:{suffix}:a")
        assert pipe.execute() == [1, 0]
    plain, multi = redis_spans(span_capture)
    assert plain.name == "PIPELINE"
    assert plain.attributes["db.operation.batch.size"] == 3
    assert plain.attributes["saler.redis.commands"] == ("SET", "INCRBY", "GET")
    assert plain.attributes["db.query.text"] == "SET ? ? ? ?; INCRBY ? ?; GET ?"
    assert multi.name == "MULTI"
    assert multi.attributes["saler.redis.commands"] == ("DEL", "EXISTS")


def test_client_and_class_instrumentation_trace_once(
    span_capture: SpanCapture, redis_url: str, suffix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    saler_tracing.instrument_redis(client)
    saler_tracing.instrument_redis(client)
    saler_tracing.instrument_redis()
    client.get(f"t:{suffix}")
    pipe = client.pipeline()
    pipe.get(f"t:{suffix}")
    pipe.execute()
    assert [s.name for s in redis_spans(span_capture)] == ["GET", "MULTI"]
    saler_tracing.uninstrument_redis()
    saler_tracing.uninstrument_redis(client)
    span_capture.clear()
    client.get(f"t:{suffix}")
    redis.Redis.from_url(redis_url).get(f"t:{suffix}")
    assert redis_spans(span_capture) == []


async def test_asyncio_client(span_capture: SpanCapture, redis_url: str, suffix: str) -> None:
    saler_tracing.instrument_redis()
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        with saler_tracing.span("request"):
            await client.set(f"t:{suffix}", "v", ex=60)
            async with client.pipeline(transaction=True) as pipe:
                pipe.get(f"t:{suffix}").delete(f"t:{suffix}")
                assert await pipe.execute() == [b"v", 1]
    finally:
        await client.aclose()
    spans = redis_spans(span_capture)
    assert [s.name for s in spans] == ["SET", "MULTI"]
    assert spans[1].attributes["saler.redis.commands"] == ("GET", "DEL")
    request = span_capture.one("request")
    assert {s.parent.span_id for s in spans} == {request.context.span_id}


def test_wrongtype_is_recorded_with_the_command(
    metrics_registry: CollectorRegistry, span_capture: SpanCapture, redis_url: str, suffix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"t:{suffix}:string"
    client.set(key, "v", ex=60)

    def push() -> Any:
        return client.lpush(key, "x")

    untraced = outcome(push)
    saler_tracing.instrument_redis()
    assert outcome(push) == untraced == ("raised", redis.ResponseError)
    (span,) = redis_spans(span_capture)
    assert span.name == "LPUSH"
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["error.type"] == "redis.exceptions.ResponseError"
    assert span.attributes["db.response.status_code"] == "WRONGTYPE"
    assert span.events[0].attributes["exception.message"].startswith("WRONGTYPE")
    edge = stats.collect()["dependencies"]["edges"][0]
    assert (edge["kind"], edge["calls"], edge["errors"]) == ("cache", 1, 1)
    errors = metrics_registry.get_sample_value(
        "saler_tracing_redis_command_errors_total", {"command": "LPUSH"}
    )
    assert errors == 1


def test_connection_refused(span_capture: SpanCapture) -> None:
    port = free_port()
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)

    def ping() -> Any:
        return client.ping()

    untraced = outcome(ping)
    saler_tracing.instrument_redis()
    assert outcome(ping) == untraced == ("raised", redis.ConnectionError)
    (span,) = redis_spans(span_capture)
    assert span.attributes["error.type"] == "redis.exceptions.ConnectionError"
    assert span.attributes["server.port"] == port


def test_timeout(span_capture: SpanCapture, redis_url: str, suffix: str) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=0.2)

    def block() -> Any:
        return client.blpop([f"t:{suffix}:empty"], timeout=2)  # server waits 2 s, we 0.2 s

    untraced = outcome(block)
    saler_tracing.instrument_redis()
    assert outcome(block) == untraced == ("raised", redis.TimeoutError)
    (span,) = redis_spans(span_capture)
    assert span.name == "BLPOP"
    assert span.attributes["error.type"] == "redis.exceptions.TimeoutError"


def test_server_that_goes_away(span_capture: SpanCapture, own_redis: RedisServer) -> None:
    saler_tracing.instrument_redis()
    client = redis.Redis(host="127.0.0.1", port=own_redis.port, socket_connect_timeout=1)
    assert client.set("k", "v") is True
    own_redis.stop()
    untraced_client = redis.Redis(host="127.0.0.1", port=own_redis.port, socket_connect_timeout=1)
    saler_tracing.uninstrument_redis()
    untraced = outcome(lambda: untraced_client.get("k"))
    saler_tracing.instrument_redis()
    assert outcome(lambda: client.get("k")) == untraced == ("raised", redis.ConnectionError)
    ok, failed = redis_spans(span_capture)
    assert ok.status.status_code.name == "UNSET"
    assert failed.name == "GET"
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["error.type"] == "redis.exceptions.ConnectionError"


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingExtraError, match=r"saler-tracing\[redis\]"):
        saler_tracing.instrument_redis()
