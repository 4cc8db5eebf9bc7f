"""Fixtures for the job tests: real Redis (and PostgreSQL, RabbitMQ where a test needs them)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# A database of its own keeps Celery's broadcast keys away from other users of the server;
# every test still uses unique queue names and key prefixes within it.
REDIS_DB = 7
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.fail("needs Redis at 127.0.0.1:6379 (scripts/services.sh starts it)")
    return REDIS_URL


def redis_broker_usable() -> bool:
    """kombu >= 5.7's Redis transport needs redis-py >= 6.1, while arq 0.28 pins redis-py < 6;
    ``[all]`` (and so this suite's ``.venv``) pins kombu < 5.7, which accepts both. Where the
    two clash anyway, Celery uses RabbitMQ as its broker (results still go to Redis)."""
    from saler_tracing._internal.instrument.celery.broker import _version, transport_problem

    return transport_problem(_version("kombu"), _version("redis")) is None


# ``JOBS_TEST_BROKER=redis`` (or ``rabbitmq``) demands a broker instead of choosing by the
# installed redis-py: the run in ``.venv-celery`` sets it, so it can never quietly fall back.
BROKER_CHOICE = "JOBS_TEST_BROKER"


def choose_celery_broker() -> tuple[str | None, str]:
    """(broker URL, "") for this run, or (None, why there is none)."""
    import redis

    demanded = os.environ.get(BROKER_CHOICE, "")
    if demanded not in ("", "redis", "rabbitmq"):
        return None, f"{BROKER_CHOICE}={demanded!r}: expected 'redis' or 'rabbitmq'"
    if demanded == "redis" or (not demanded and redis_broker_usable()):
        if not redis_broker_usable():
            return None, (
                f"{BROKER_CHOICE}=redis but redis-py {redis.__version__} is installed: kombu's"
                " Redis transport needs redis-py >= 6.1 from kombu 5.7 on (`[all]` pins kombu<5.7)"
            )
        return REDIS_URL, ""
    if not reachable("127.0.0.1", 5672):
        return None, (
            "Celery needs a broker: RabbitMQ at 127.0.0.1:5672 (guest/guest), or redis-py >= 6.1"
            " for the Redis broker (scripts/services.sh starts RabbitMQ)"
        )
    return RABBITMQ_URL, ""


def celery_broker_url() -> str:
    """The Celery broker of this run; a broker that cannot be used fails the test loudly."""
    if not reachable(REDIS_HOST, REDIS_PORT):  # the result backend whatever the broker
        pytest.fail("needs Redis at 127.0.0.1:6379 (scripts/services.sh starts it)")
    broker, problem = choose_celery_broker()
    if broker is None:
        pytest.fail(problem)
    return broker


def pytest_report_header() -> str:
    # Names the broker in the run's output: the run in .venv-celery is checked against it.
    broker, problem = choose_celery_broker()
    return f"celery broker: {broker or 'none: ' + problem}"


@pytest.fixture
def celery_broker(redis_url: str) -> str:
    return celery_broker_url()


@pytest.fixture
def unique() -> str:
    return f"saler-jobs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_url: str, unique: str) -> Iterator[object]:
    """A sync client; the keys of this test (``unique`` prefix) are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    keys = list(client.scan_iter(match=f"*{unique}*"))
    if keys:
        client.delete(*keys)
    client.close()
