"""``pip install 'saler-tracing[all]'`` gives an environment where Celery works on a Redis
broker and arq works beside it: checked in ``.venv-all``, built from ``.[all]`` alone by
``make test`` (kombu's Redis transport from 5.7 on needs redis-py >= 6.1, which arq does not
accept; ``[all]`` pins kombu < 5.7)."""

from __future__ import annotations

import pytest

from saler_tracing._internal.instrument.celery.broker import transport_problem
from tests.helpers.scripts import ROOT, run_report
from tests.jobs.conftest import REDIS_HOST, REDIS_PORT, reachable

PYTHON = ROOT / ".venv-all" / "bin" / "python"


@pytest.mark.slow
def test_celery_on_redis_and_arq_work_in_an_all_environment() -> None:
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON.relative_to(ROOT)} is missing: run `make test`, which builds it")
    if not reachable(REDIS_HOST, REDIS_PORT):
        pytest.fail("needs Redis at 127.0.0.1:6379 (scripts/services.sh starts it)")
    report = run_report(PYTHON, "tests.jobs.all_extra_check", timeout=180)
    assert report["celery"] == {"value": 5, "same_trace": True}, report
    assert report["arq"] == {"same_trace": True}, report
    kombu = tuple(int(p) for p in report["versions"]["kombu"].split(".")[:2])
    redis = tuple(int(p) for p in report["versions"]["redis"].split(".")[:2])
    assert transport_problem(kombu, redis) is None, report["versions"]


@pytest.mark.parametrize(
    ("kombu", "redis", "clash"),
    [
        ((5, 7), (5, 3), True),  # Celery 5.7 beside arq: the first delay() would fail
        ((5, 7), (6, 1), False),
        ((5, 6), (5, 3), False),  # what [all] resolves to
        ((5, 6), (6, 4), False),
        (None, (5, 3), False),  # no Celery
        ((5, 7), None, False),  # no redis-py: no Redis broker either
    ],
)
def test_the_clash_is_named_with_its_fix(
    kombu: tuple[int, int] | None, redis: tuple[int, int] | None, clash: bool
) -> None:
    problem = transport_problem(kombu, redis)
    assert (problem is not None) is clash
    if problem:
        assert "kombu<5.7" in problem and "redis-py >= 6.1" in problem


def test_instrument_celery_logs_the_clash_for_a_redis_broker(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clashing versions cannot be installed beside this suite's own; the version lookup
    # is the one thing replaced here.
    from celery import Celery

    import saler_tracing
    from saler_tracing._internal.instrument.celery import broker as celery_redis

    versions = {"kombu": (5, 7), "redis": (5, 3)}
    monkeypatch.setattr(celery_redis, "_version", lambda dist: versions.get(dist))
    app = Celery("clash", broker="redis://127.0.0.1:6379/7")
    try:
        with caplog.at_level("ERROR", logger="saler_tracing"):
            saler_tracing.instrument_celery(app)
    finally:
        saler_tracing.uninstrument_celery()
    assert "kombu<5.7" in caplog.text
    caplog.clear()
    try:
        saler_tracing.instrument_celery(Celery("amqp", broker="amqp://guest@127.0.0.1//"))
    finally:
        saler_tracing.uninstrument_celery()
    assert caplog.text == ""
