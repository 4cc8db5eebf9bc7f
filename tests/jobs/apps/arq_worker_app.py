"""The arq worker run by the real ``arq`` processes of tests/jobs (not a test).

Environment: ``JOBS_QUEUE``, ``JOBS_REDIS_DB``, ``JOBS_POSTGRES``, the ``OTEL_*`` export
variables, and ``JOBS_UNINSTRUMENTED=1`` for a worker without saler_tracing's arq tracing.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import psycopg
import redis
from arq.connections import RedisSettings

import saler_tracing

QUEUE = os.environ["JOBS_QUEUE"]
DB = int(os.environ["JOBS_REDIS_DB"])
marks = redis.Redis(host="127.0.0.1", port=6379, db=DB)

saler_tracing.configure()
if os.environ.get("JOBS_UNINSTRUMENTED") != "1":
    saler_tracing.instrument_arq()


async def first(ctx: dict[str, Any], order_id: int) -> int:
    with saler_tracing.span("select order", **{"db.system.name": "postgresql"}):
        async with await psycopg.AsyncConnection.connect(os.environ["JOBS_POSTGRES"]) as conn:
            cursor = await conn.execute("select %s::int + 1", (order_id,))
            row = await cursor.fetchone()
    value = int(row[0]) if row else -1
    await ctx["redis"].enqueue_job("second", value, _job_id=f"{QUEUE}-second")
    return value


async def second(ctx: dict[str, Any], value: int) -> None:
    marks.rpush(f"{QUEUE}:second", value)


async def echo(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    marks.set(f"{QUEUE}:echo:{ctx['job_id']}", json.dumps([args, kwargs]), ex=300)


async def quick(ctx: dict[str, Any], index: int) -> None:
    with saler_tracing.span("quick work", index=index):
        pass
    marks.rpush(f"{QUEUE}:done", index)


async def hang(ctx: dict[str, Any]) -> None:
    marks.set(f"{QUEUE}:hang-pid", os.getpid(), ex=300)
    await asyncio.sleep(60)  # until the test kills this process


async def startup(ctx: dict[str, Any]) -> None:
    server = saler_tracing.serve_telemetry(port=0)
    marks.set(f"{QUEUE}:telemetry", server.url, ex=300)
    marks.set(f"{QUEUE}:ready", "1", ex=300)


class WorkerSettings:
    functions = [first, second, echo, quick, hang]
    queue_name = QUEUE
    redis_settings = RedisSettings(host="127.0.0.1", port=6379, database=DB)
    on_startup = startup
    poll_delay = 0.05
    max_jobs = 4
    job_timeout = 120
