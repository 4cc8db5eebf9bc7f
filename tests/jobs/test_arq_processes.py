"""End to end with real processes: a FastAPI request (uvicorn) enqueues arq jobs that a real
``arq`` worker process runs; spans are asserted where they arrived, at a real OTLP receiver."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import saler_tracing
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve
from tests.jobs.conftest import POSTGRES_DSN, REDIS_DB, REDIS_HOST, REDIS_PORT, reachable
from tests.jobs.processes import kind, named, process, python, spans_of, wait_until, worker_env

pytestmark = pytest.mark.slow
WORKER = "arq-worker"


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as running:
        yield running


@pytest.fixture
def traced_producer(receiver: OtlpHttpReceiver) -> Iterator[None]:
    saler_tracing.configure(
        service_name="web",
        export=saler_tracing.ExportOptions(
            exporter="otlp", traces_endpoint=receiver.endpoint, schedule_delay_ms=100
        ),
        environ={},
    )
    saler_tracing.instrument_arq()
    yield
    saler_tracing.uninstrument_arq()


TOKEN = "worker-telemetry-token"


@contextmanager
def arq_worker(
    receiver: OtlpHttpReceiver, queue: str, redis: Any, log: Path, **env: str
) -> Iterator[Any]:
    environ = worker_env(
        receiver.endpoint,
        WORKER,
        {
            "JOBS_QUEUE": queue,
            "JOBS_REDIS_DB": str(REDIS_DB),
            "JOBS_POSTGRES": POSTGRES_DSN,
            "SALER_TRACING_API_TOKEN": TOKEN,
            **env,
        },
    )
    with process([python(), "-m", "arq", "arq_worker_app.WorkerSettings"], environ, log) as proc:
        wait_until(lambda: redis.get(f"{queue}:ready"), 30, "the arq worker to start", log)
        yield proc


async def enqueue(function: str, *args: Any, **kwargs: Any) -> str:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings(host=REDIS_HOST, port=REDIS_PORT, database=REDIS_DB))
    try:
        job = await pool.enqueue_job(function, *args, **kwargs)
        assert job is not None
        return str(job.job_id)
    finally:
        await pool.aclose()


def test_request_to_worker_to_second_job_is_one_trace(
    receiver: OtlpHttpReceiver, traced_producer: None, unique: str, redis_client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    from fastapi import FastAPI

    if not reachable("127.0.0.1", 5432):
        pytest.fail("needs PostgreSQL at 127.0.0.1:5432, database test (scripts/services.sh)")
    web = FastAPI()

    @web.post("/orders/{order_id}")
    async def create_order(order_id: int) -> dict[str, str]:
        job_id = await enqueue("first", order_id, _job_id=f"{unique}-first", _queue_name=unique)
        return {"job": job_id}

    saler_tracing.instrument_fastapi(web)
    log = tmp_path / "worker.log"
    with arq_worker(receiver, unique, redis_client, log), serve(web) as url:
        assert httpx.post(f"{url}/orders/41", timeout=10).json() == {"job": f"{unique}-first"}
        wait_until(
            lambda: named(spans_of(receiver.store, WORKER), "process second"), 30, "job 2", log
        )
        telemetry = redis_client.get(f"{unique}:telemetry").decode()
        metrics = httpx.get(f"{telemetry}/metrics", timeout=10).text
        auth = {"authorization": f"Bearer {TOKEN}"}
        stats = httpx.get(f"{telemetry}/api/v1/tracing/stats", headers=auth, timeout=10).json()
        health = httpx.get(f"{telemetry}/api/v1/tracing/health", headers=auth, timeout=10)
    assert redis_client.lrange(f"{unique}:second", 0, -1) == [b"42"]
    saler_tracing.force_flush()

    spans = spans_of(receiver.store)
    server = next(s for s in spans if kind(s) == "SPAN_KIND_SERVER")

    def only(name: str) -> Any:
        (found,) = named(spans, name)
        return found

    send_first, first = only("send first"), only("process first")
    query, send_second, second = only("select order"), only("send second"), only("process second")
    assert {s.trace_id for s in spans} == {server.trace_id}  # one trace, two processes
    assert send_first.resource["service.name"] == "web"
    assert first.resource["service.name"] == second.resource["service.name"] == WORKER
    assert first.parent_span_id == send_first.span_id
    assert query.parent_span_id == first.span_id
    assert send_second.parent_span_id == first.span_id
    assert second.parent_span_id == send_second.span_id
    for job in (first, second):
        assert kind(job) == "SPAN_KIND_CONSUMER"
        assert job.attributes["saler.job.queue_wait_s"] >= 0
        assert job.attributes["saler.job.attempt"] == 1
    # the worker's telemetry port: the same documents as the FastAPI router, and metrics
    assert 'saler_tracing_job_queue_wait_seconds_count{job="first",system="arq"} 1.0' in metrics
    assert (
        'saler_tracing_job_duration_seconds_count{job="second",outcome="success",system="arq"} 1.0'
        in metrics
    )
    assert stats["jobs"]["outcomes"] == {"arq": {"success": 2}}
    assert stats["health"]["service"] == WORKER
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_uninstrumented_worker_runs_jobs_from_a_traced_producer(
    receiver: OtlpHttpReceiver, traced_producer: None, unique: str, redis_client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    import asyncio

    log = tmp_path / "worker.log"
    with arq_worker(receiver, unique, redis_client, log, JOBS_UNINSTRUMENTED="1"):
        job_id = asyncio.run(
            enqueue("echo", 1, "two", _job_id=f"{unique}-echo", _queue_name=unique, flag=True)
        )
        seen = wait_until(lambda: redis_client.get(f"{unique}:echo:{job_id}"), 30, "echo", log)
    assert json.loads(seen) == [[1, "two"], {"flag": True}]  # exactly its own arguments
    saler_tracing.force_flush()
    assert [s.name for s in spans_of(receiver.store)] == ["send echo"]


def test_killed_worker_loses_only_its_running_job_visibly(
    receiver: OtlpHttpReceiver, traced_producer: None, unique: str, redis_client: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    import asyncio

    log = tmp_path / "worker.log"

    def consumed() -> set[Any]:
        return {
            s.attributes["messaging.message.id"]
            for s in named(spans_of(receiver.store, WORKER), "process quick")
        }

    with arq_worker(receiver, unique, redis_client, log) as worker:
        done = [
            asyncio.run(enqueue("quick", i, _job_id=f"{unique}-q{i}", _queue_name=unique))
            for i in range(3)
        ]
        # A killed process loses what it had not exported yet (the batch delay): let the
        # earlier jobs' spans leave first, so what is asserted is the kill's own damage.
        wait_until(lambda: consumed() >= set(done), 30, "the earlier jobs' spans", log)
        lost = asyncio.run(enqueue("hang", _job_id=f"{unique}-hang", _queue_name=unique))
        wait_until(lambda: redis_client.get(f"{unique}:hang-pid"), 30, "the job to start", log)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    saler_tracing.force_flush()

    spans = spans_of(receiver.store)
    sends = {s.attributes["messaging.message.id"]: s for s in named(spans, "send quick")}
    assert set(sends) == set(done)
    (send_lost,) = named(spans, "send hang")
    assert send_lost.attributes["messaging.message.id"] == lost
    assert [s.name for s in spans if s.trace_id == send_lost.trace_id] == ["send hang"]
    for job in named(spans, "process quick"):
        assert job.parent_span_id == sends[job.attributes["messaging.message.id"]].span_id
    assert len(named(spans, "quick work")) == 3
