"""Run by ``test_all_extra.py`` with the interpreter of ``.venv-all`` (built from ``.[all]``
alone): a real ``celery worker`` process on the Redis broker and an arq worker on the same
Redis, both traced. Prints one JSON line with what happened."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from importlib import metadata
from typing import Any

from opentelemetry import trace

QUEUE = f"all-extra-{uuid.uuid4().hex[:10]}"
os.environ["JOBS_QUEUE"] = QUEUE
REDIS = os.environ.get("JOBS_REDIS", "redis://127.0.0.1:6379/7")

import saler_tracing  # noqa: E402
from tests.jobs.apps.all_extra_app import add  # noqa: E402


async def arq_job(ctx: dict[str, Any]) -> str:
    return f"{trace.get_current_span().get_span_context().trace_id:032x}"


async def run_arq() -> tuple[str, str]:
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Worker

    saler_tracing.instrument_arq()
    pool = await create_pool(RedisSettings.from_dsn(REDIS))
    try:
        with saler_tracing.span("arq request") as outer:
            job = await pool.enqueue_job("arq_job", _queue_name=QUEUE)
        worker = Worker(
            functions=[arq_job], redis_pool=pool, queue_name=QUEUE, burst=True,
            handle_signals=False, poll_delay=0.05,
        )  # fmt: skip
        await asyncio.wait_for(worker.main(), 60)
        assert job is not None
        ran_in = await job.result(timeout=30)
        return f"{outer.get_span_context().trace_id:032x}", str(ran_in)
    finally:
        await pool.aclose()


def main() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.jobs.apps.all_extra_app", "worker",
         "--pool", "solo", "-Q", QUEUE, "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "warning"],
        env={**os.environ, "JOBS_QUEUE": QUEUE},
    )  # fmt: skip
    try:
        with saler_tracing.span("celery request") as outer:
            result = add.delay(2, 3)
        value, ran_in = result.get(timeout=60)
        celery_trace = f"{outer.get_span_context().trace_id:032x}"
    finally:
        worker.terminate()
        worker.wait(30)
    arq_trace, arq_ran_in = asyncio.run(run_arq())
    versions = {name: metadata.version(name) for name in ("celery", "kombu", "redis", "arq")}
    print(
        json.dumps(
            {
                "versions": versions,
                "celery": {"value": value, "same_trace": ran_in == celery_trace},
                "arq": {"same_trace": arq_ran_in == arq_trace},
            }
        )
    )


if __name__ == "__main__":
    main()
