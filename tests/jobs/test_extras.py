"""The integrations import their library only when asked, with an error naming the extra."""

from __future__ import annotations

import sys

import pytest

import saler_tracing


@pytest.mark.parametrize(
    ("module", "instrument", "extra"),
    [
        ("celery", saler_tracing.instrument_celery, "celery"),
        ("arq", saler_tracing.instrument_arq, "arq"),
    ],
)
def test_missing_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, instrument: object, extra: str
) -> None:
    # A None entry in sys.modules makes ``import module`` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(saler_tracing.MissingExtraError, match=rf"saler-tracing\[{extra}\]"):
        instrument()  # type: ignore[operator]


def test_instrument_and_uninstrument_are_idempotent() -> None:
    import arq.connections
    from celery import signals

    original = arq.connections.ArqRedis.enqueue_job
    receivers = len(signals.task_prerun.receivers)
    for _ in range(2):
        saler_tracing.instrument_arq()
        saler_tracing.instrument_celery()
    assert len(signals.task_prerun.receivers) == receivers + 1
    assert arq.connections.ArqRedis.enqueue_job is not original
    for _ in range(2):
        saler_tracing.uninstrument_arq()
        saler_tracing.uninstrument_celery()
    assert arq.connections.ArqRedis.enqueue_job is original
    assert len(signals.task_prerun.receivers) == receivers


def test_instrument_celery_rejects_something_else() -> None:
    with pytest.raises(TypeError, match=r"celery\.Celery"):
        saler_tracing.instrument_celery(app="not an app")
