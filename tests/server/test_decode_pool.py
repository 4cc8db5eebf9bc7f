"""Decoder processes: requests decode in workers; a worker that dies (killed, out of memory)
costs no request — the pool is replaced and the server keeps answering."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator

import httpx
import pytest

from saler_tracing.server.app import TraceServer
from tests.server import test_receiver as receiver
from tests.server.harness import server_thread, wait_for
from tests.server.test_receiver import PB, _status, _valid_request


def test_requests_survive_a_killed_decoder_process() -> None:
    with server_thread(decode_workers=1) as server:
        url = f"http://127.0.0.1:{server.http_port}/v1/traces"
        assert httpx.post(url, content=_valid_request(), headers=PB).status_code == 200
        bad = httpx.post(url, content=b"\xff\xff garbage", headers=PB)  # decoded in the worker
        assert bad.status_code == 400
        assert _status(bad.content).code == 3

        workers = [p for p in multiprocessing.active_children() if p.pid]
        assert workers, "expected a decoder process"
        for worker in workers:
            os.kill(worker.pid, signal.SIGKILL)  # type: ignore[arg-type]
        wait_for(lambda: not any(p.is_alive() for p in workers), 10, "the workers to die")

        assert httpx.post(url, content=_valid_request(), headers=PB).status_code == 200
        assert server._pool is not None
        assert server._pool.restarts == 1
        assert httpx.post(url, content=_valid_request(), headers=PB).status_code == 200
        server.store.flush()
        assert server.stats.spans_accepted == 3
        assert server.store.span_count() == 3


@pytest.fixture(scope="module")
def pooled() -> Iterator[TraceServer]:
    with server_thread(decode_workers=2) as server:
        yield server


@pytest.mark.parametrize(
    "case",
    [
        receiver.test_sdk_otlp_http_exporter,
        receiver.test_sdk_otlp_http_exporter_gzip,
        receiver.test_sdk_otlp_grpc_exporter,  # from the gRPC server's threads to the loop
        receiver.test_otlp_json_plain_and_gzip,
        receiver.test_partial_success_counts_rejected_spans,
        receiver.test_grpc_malformed_and_partial,
        receiver.test_gzip_bomb_is_refused,
    ],
    ids=lambda case: case.__name__.removeprefix("test_"),
)
def test_receiver_answers_alike_with_decoder_processes(
    pooled: TraceServer, case: Callable[[TraceServer], None]
) -> None:
    case(pooled)
    assert pooled._pool is not None and pooled._pool.restarts == 0
