"""End to end with real processes: a FastAPI request (uvicorn) enqueues Celery jobs that real
``celery worker`` prefork processes run; every span is asserted where it arrived, at a real
OTLP receiver."""

from __future__ import annotations

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
from tests.jobs.conftest import POSTGRES_DSN, REDIS_URL, reachable
from tests.jobs.processes import kind, named, process, python, spans_of, wait_until, worker_env

pytestmark = pytest.mark.slow
WORKER = "celery-worker"


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as running:
        yield running


@contextmanager
def celery_worker(
    receiver: OtlpHttpReceiver,
    broker: str,
    queue: str,
    redis: Any,
    log: Path,
    *extra_args: str,
    concurrency: int = 2,
    **env: str,
) -> Iterator[Any]:
    args = [
        python(), "-m", "celery", "-A", "celery_worker_app", "worker", "-P", "prefork",
        "-c", str(concurrency), "-Q", queue, "-n", f"{queue}@%h", "-l", "WARNING",
        "--without-mingle", "--without-gossip", "--without-heartbeat", *extra_args,
    ]  # fmt: skip
    environ = worker_env(
        receiver.endpoint,
        WORKER,
        {
            "JOBS_BROKER": broker,
            "JOBS_BACKEND": REDIS_URL,
            "JOBS_QUEUE": queue,
            "JOBS_REDIS": REDIS_URL,
            "JOBS_POSTGRES": POSTGRES_DSN,
            **env,
        },
    )
    with process(args, environ, log) as proc:
        wait_until(lambda: redis.get(f"{queue}:ready"), 30, "the celery worker to start", log)
        yield proc


@pytest.fixture
def producer(celery_broker: str, unique: str) -> Iterator[Any]:
    """A Celery app in the test process that sends to the workers' queue by task name."""
    from tests.jobs.celery_support import make_app

    app = make_app(unique, celery_broker, REDIS_URL)
    saler_tracing.instrument_celery(app)
    yield app
    saler_tracing.uninstrument_celery()


def configure_web(receiver: OtlpHttpReceiver) -> None:
    saler_tracing.configure(
        service_name="web",
        export=saler_tracing.ExportOptions(
            exporter="otlp", traces_endpoint=receiver.endpoint, schedule_delay_ms=100
        ),
        environ={},
    )


def test_request_to_worker_to_second_job_is_one_trace(
    receiver: OtlpHttpReceiver,
    producer: Any,
    celery_broker: str,
    unique: str,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    from fastapi import FastAPI

    if not reachable("127.0.0.1", 5432):
        pytest.fail("needs PostgreSQL at 127.0.0.1:5432, database test (scripts/services.sh)")
    configure_web(receiver)
    web = FastAPI()

    @web.post("/orders/{order_id}")
    def create_order(order_id: int) -> dict[str, str]:
        result = producer.send_task("jobs.query_then_enqueue", args=[order_id], queue=unique)
        return {"task": result.id}

    saler_tracing.instrument_fastapi(web)
    log = tmp_path / "worker.log"
    with celery_worker(receiver, celery_broker, unique, redis_client, log), serve(web) as url:
        task_id = httpx.post(f"{url}/orders/41", timeout=10).json()["task"]
        wait_until(lambda: redis_client.lrange(f"{unique}:second", 0, -1), 30, "job 2", log)
        wait_until(
            lambda: len(named(spans_of(receiver.store, WORKER), "process jobs.second")) == 1,
            15, "the second job's span", log,
        )  # fmt: skip
    assert redis_client.lrange(f"{unique}:second", 0, -1) == [b"42"]
    saler_tracing.force_flush()

    spans = spans_of(receiver.store)
    server = next(s for s in spans if kind(s) == "SPAN_KIND_SERVER")
    by_id = {s.span_id: s for s in spans}

    def only(name: str) -> Any:
        (found,) = named(spans, name)
        return found

    send_first = only("send jobs.query_then_enqueue")
    first = only("process jobs.query_then_enqueue")
    query, send_second = only("select order"), only("send jobs.second")
    second = only("process jobs.second")
    assert {s.trace_id for s in spans} == {server.trace_id}  # one trace, three processes
    assert send_first.resource["service.name"] == "web"
    assert first.resource["service.name"] == second.resource["service.name"] == WORKER
    assert by_id[send_first.parent_span_id].trace_id == server.trace_id
    assert first.parent_span_id == send_first.span_id
    assert query.parent_span_id == first.span_id
    assert send_second.parent_span_id == first.span_id
    assert second.parent_span_id == send_second.span_id
    assert first.attributes["messaging.message.id"] == task_id
    for job in (first, second):
        assert kind(job) == "SPAN_KIND_CONSUMER"
        assert job.attributes["saler.job.queue_wait_s"] >= 0
        assert job.attributes["messaging.destination.name"] == unique


def test_recycled_pool_processes_export_every_span(
    receiver: OtlpHttpReceiver,
    producer: Any,
    celery_broker: str,
    unique: str,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    """200 jobs, a new pool process for each (``--max-tasks-per-child 1``): spans exported by
    the workers == spans they created, counted in Redis by the processes themselves."""
    jobs = 200
    log = tmp_path / "worker.log"
    with celery_worker(
        receiver, celery_broker, unique, redis_client, log, "--max-tasks-per-child", "1",
        concurrency=4,  # a replacement process takes a while to start: keep more of them
    ):  # fmt: skip
        for index in range(jobs):
            producer.send_task("jobs.counted", args=[index], queue=unique)
        wait_until(lambda: redis_client.llen(f"{unique}:done") >= jobs, 150, "200 jobs to run", log)
        created = lambda: int(redis_client.get(f"{unique}:spans-created") or 0)  # noqa: E731
        wait_until(lambda: len(spans_of(receiver.store, WORKER)) >= created(), 20, "export", log)

    worker_spans = spans_of(receiver.store, WORKER)
    assert created() == 2 * jobs  # a CONSUMER span and the task's own span per job
    assert len(worker_spans) == created()
    assert len(named(worker_spans, "process jobs.counted")) == jobs


def test_killed_pool_process_loses_only_its_own_job_visibly(
    receiver: OtlpHttpReceiver,
    producer: Any,
    celery_broker: str,
    unique: str,
    redis_client: Any,
    tmp_path: Path,
) -> None:
    """SIGKILL a pool process mid-job: the producer side and the other jobs are intact, the
    lost job is a PRODUCER span without a CONSUMER span — not merged into anything."""
    configure_web(receiver)
    log = tmp_path / "worker.log"
    with celery_worker(receiver, celery_broker, unique, redis_client, log):
        consumed = lambda: {  # noqa: E731
            s.attributes.get("messaging.message.id")
            for s in named(spans_of(receiver.store, WORKER), "process jobs.counted")
        }
        before = [producer.send_task("jobs.counted", args=[i], queue=unique).id for i in range(5)]
        # A killed process loses what it had not exported yet (the batch delay): let the
        # earlier jobs' spans leave first, so what is asserted is the kill's own damage.
        wait_until(lambda: consumed() >= set(before), 30, "the earlier jobs' spans", log)
        lost = producer.send_task("jobs.hang", queue=unique).id
        pid = int(wait_until(lambda: redis_client.get(f"{unique}:hang-pid"), 30, "hang", log))
        os.kill(pid, signal.SIGKILL)
        after = [producer.send_task("jobs.counted", args=[i], queue=unique).id for i in range(5)]
        wait_until(lambda: redis_client.llen(f"{unique}:done") >= 10, 30, "jobs after", log)
        saler_tracing.force_flush()
        wait_until(lambda: consumed() >= set(after), 20, "the later jobs' spans", log)

    spans = spans_of(receiver.store)
    sends = {
        s.attributes["messaging.message.id"]: s for s in spans if kind(s) == "SPAN_KIND_PRODUCER"
    }
    assert set(before + after + [lost]) <= set(sends)
    lost_trace = [s for s in spans if s.trace_id == sends[lost].trace_id]
    assert [s.name for s in lost_trace] == ["send jobs.hang"]  # visibly no consumer span
    for task_id in before + after:
        (job,) = [
            s
            for s in named(spans, "process jobs.counted")
            if s.attributes["messaging.message.id"] == task_id
        ]
        assert job.parent_span_id == sends[task_id].span_id
        assert job.trace_id != sends[lost].trace_id


def test_hung_collector_does_not_hold_recycled_pool_processes(
    producer: Any, celery_broker: str, unique: str, redis_client: Any, tmp_path: Path
) -> None:
    """The flush at pool-process exit is bounded: with a collector that never answers, jobs
    keep flowing and each exit waits at most SALER_TRACING_SHUTDOWN_TIMEOUT."""
    jobs = 6
    log = tmp_path / "worker.log"
    with (
        OtlpHttpReceiver(mode="hang") as hung,
        celery_worker(
            hung, celery_broker, unique, redis_client, log, "--max-tasks-per-child", "1",
            SALER_TRACING_SHUTDOWN_TIMEOUT="0.5",
        ),
    ):  # fmt: skip
        for index in range(jobs):
            producer.send_task("jobs.counted", args=[index], queue=unique)
        # 6 jobs on 2 processes: ~3 s of recycling; a flush waiting on the hung collector's
        # export timeout (10 s) per exit would need 30 s.
        wait_until(lambda: redis_client.llen(f"{unique}:done") >= jobs, 20, "the jobs", log)
        hung.release()
    assert "pool process exiting before its spans were exported" in log.read_text()
