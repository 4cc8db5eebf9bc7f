"""Retry: retryable answers are retried, final ones are not, 413 splits the batch."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from saler_tracing._internal import setup
from saler_tracing._internal.export.encode import encode_spans
from saler_tracing._internal.export.retry import Backoff, Verdict, from_http, parse_retry_after
from saler_tracing._internal.export.transport import GrpcTransport, HttpTransport
from tests.helpers.receiver import OtlpHttpReceiver, Store, grpc_receiver

from .conftest import configure_to, drops, make_spans, wait_until


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_status_is_retried_until_it_succeeds(status: int) -> None:
    with OtlpHttpReceiver(script=[status, status], headers={"Retry-After": "0"}) as rx:
        monitor = configure_to(rx.endpoint)
        make_spans(20)
        assert wait_until(lambda: len(rx.store.spans) == 20)
        assert rx.answered[:3] == [status, status, 200]
        assert monitor.retries == 2
        assert sum(drops(monitor).values()) == 0


@pytest.mark.parametrize("status", [400, 401, 403])
def test_final_status_is_not_retried_and_counted(status: int) -> None:
    with OtlpHttpReceiver(mode=f"status:{status}") as rx:
        monitor = configure_to(rx.endpoint, max_export_batch_size=100)
        make_spans(20)
        assert setup.force_flush(10)
        assert wait_until(lambda: drops(monitor)["export_failed"] == 20)
        assert rx.answered == [status]  # one request, no retry
        assert monitor.retries == 0
        assert monitor.last_error == f"HTTP {status}"


def test_413_splits_the_batch_until_the_receiver_takes_it() -> None:
    with OtlpHttpReceiver(mode="max_spans:10") as rx:
        monitor = configure_to(rx.endpoint, max_export_batch_size=64)
        make_spans(64)
        assert setup.force_flush(10)
        assert wait_until(lambda: len(rx.store.spans) == 64)
        assert 413 in rx.answered
        assert sorted(s.name for s in rx.store.spans) == sorted(f"span-{i}" for i in range(64))
        assert sum(drops(monitor).values()) == 0


def test_a_single_span_refused_with_413_is_dropped_as_too_large() -> None:
    with OtlpHttpReceiver(mode="max_spans:0") as rx:
        monitor = configure_to(rx.endpoint, max_export_batch_size=4)
        make_spans(4)
        assert setup.force_flush(10)
        assert wait_until(lambda: drops(monitor)["too_large"] == 4)
        assert rx.store.spans == []
        # Each was a root span: four traces lost, counted through the halves of the split.
        assert monitor.dropped_traces["too_large"] == 4


def test_retry_after_is_honoured_and_parsed() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    backoff = Backoff(base_s=0.1, cap_s=1.0, rng=random.Random(1))
    assert backoff.delay(0, retry_after_s=3.0) == 3.0
    assert all(0.05 <= backoff.delay(0) <= 0.1 for _ in range(50))
    assert all(0.5 <= backoff.delay(10) <= 1.0 for _ in range(50))  # capped
    assert from_http(503, "2").retry_after_s == 2.0
    assert from_http(413).verdict is Verdict.SPLIT
    assert from_http(404).verdict is Verdict.FAIL


@contextmanager
def grpc_receiver_failing(
    failures: int, code_name: str, delay_s: float = 0.0
) -> Iterator[tuple[str, Store]]:
    """A real gRPC OTLP receiver answering ``code_name`` with a RetryInfo detail first."""
    import grpc
    from google.protobuf import any_pb2, duration_pb2
    from google.rpc import error_details_pb2, status_pb2

    left = [failures]
    code = getattr(grpc.StatusCode, code_name)

    def refuse(context: Any) -> bool:
        if left[0] <= 0:
            return False
        left[0] -= 1
        detail = any_pb2.Any()
        delay = duration_pb2.Duration(seconds=int(delay_s), nanos=int(delay_s % 1 * 1e9))
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        status = status_pb2.Status(code=code.value[0], message="busy", details=[detail])
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.set_code(code)
        return True

    with grpc_receiver(refuse) as (endpoint, store):
        yield endpoint, store


@pytest.mark.parametrize("code", ["UNAVAILABLE", "RESOURCE_EXHAUSTED"])
def test_grpc_retryable_codes_are_retried(code: str) -> None:
    with grpc_receiver_failing(2, code) as (endpoint, store):
        monitor = configure_to(endpoint, protocol="grpc")
        make_spans(10)
        assert wait_until(lambda: len(store.spans) == 10)
        assert monitor.retries == 2
        assert sum(drops(monitor).values()) == 0


def test_grpc_final_code_is_not_retried() -> None:
    with grpc_receiver_failing(100, "INVALID_ARGUMENT") as (endpoint, store):
        monitor = configure_to(endpoint, protocol="grpc")
        make_spans(10)
        assert setup.force_flush(10)
        assert wait_until(lambda: drops(monitor)["export_failed"] == 10)
        assert monitor.retries == 0
        assert store.spans == []


def test_transports_report_the_delay_the_receiver_asked_for() -> None:
    with grpc_receiver_failing(1, "UNAVAILABLE", delay_s=2.5) as (endpoint, _):
        transport = GrpcTransport(endpoint, {})
        outcome = transport.send(encode_spans([]), 5)
        transport.close()
    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_after_s == 2.5
    with OtlpHttpReceiver(script=[503], headers={"Retry-After": "4"}) as rx:
        http = HttpTransport(rx.endpoint, {})
        outcome = http.send(encode_spans([]), 5)
        assert http.send(encode_spans([]), 5).ok
        http.close()
    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_after_s == 4.0


def test_connection_refused_is_retryable() -> None:
    from tests.helpers.receiver import free_port

    outcome = HttpTransport(f"http://127.0.0.1:{free_port()}/v1/traces", {}).send(b"", 2)
    assert outcome.verdict is Verdict.RETRY
