"""The Celery worker-process and span tests again in the second virtual environment that
``make test`` builds (``.venv-celery``: the newest Celery and kombu, redis-py >= 6.1, no arq).

kombu 5.7's Redis transport needs redis-py >= 6.1 while arq 0.28 pins redis-py < 6, so this
suite's own environment (built from ``[all]``, which pins kombu < 5.7) runs Celery 5.6 on
Redis. Here the same tests run on Celery 5.7 with ``JOBS_TEST_BROKER`` naming the broker —
Redis, and RabbitMQ, which no other run covers — so they fail rather than fall back.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.jobs.conftest import BROKER_CHOICE, RABBITMQ_URL, REDIS_URL

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-celery" / "bin" / "python"
# The Celery tests that use a broker, named one by one: nothing of arq is collected (the
# environment has none).
PROCESSES = "tests/jobs/test_celery_processes.py"
TESTS = [PROCESSES, "tests/jobs/test_celery_spans.py"]
EXPECTED = 13  # 4 + 9: a test that went missing must not pass quietly


@pytest.mark.parametrize(("broker", "url"), [("redis", REDIS_URL), ("rabbitmq", RABBITMQ_URL)])
def test_celery_worker_processes_pass_on_the_newest_celery(broker: str, url: str) -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON.relative_to(ROOT)} is missing: run `make test`, which builds it")
    env = {**os.environ, BROKER_CHOICE: broker, "SALER_TRACING_RAISE_INTERNAL_ERRORS": "1"}
    result = subprocess.run(
        [str(PYTHON), "-m", "pytest", *TESTS, "-p", "no:cacheprovider", "-rA", "--color=no"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    # The failures section, not the tail: captured worker logs can fill the last pages.
    failures = output.find("= FAILURES =")
    report = output[failures : failures + 8000] if failures >= 0 else output[-6000:]
    assert result.returncode == 0, report
    # The inner run names its broker in its header (tests/jobs/conftest.py).
    assert f"celery broker: {url}" in output, output[:2000]
    passed = re.findall(r"^PASSED (\S+)", output, re.MULTILINE)
    assert len(passed) == EXPECTED, output[-3000:]
    assert f"{PROCESSES}::test_request_to_worker_to_second_job_is_one_trace" in passed
    assert f"{PROCESSES}::test_recycled_pool_processes_export_every_span" in passed
    # The point of the environment: arq (which pins redis-py < 6) is not in it.
    probe = "import importlib.util as u; print(u.find_spec('arq') is None)"
    no_arq = subprocess.run([str(PYTHON), "-c", probe], capture_output=True, text=True, check=True)
    assert no_arq.stdout.strip() == "True"
