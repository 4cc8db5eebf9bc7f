"""``PerObject``: what an integration works out once per engine, pool or client, and forgets
with it (a dropped engine must not keep its figures, nor hand them to the next engine)."""

from __future__ import annotations

import gc
import threading

from saler_tracing._internal.instrument.kit import PerObject


class _Engine:
    def __init__(self, name: str) -> None:
        self.name = name


def test_made_once_per_live_object_and_forgotten_with_it() -> None:
    made: list[str] = []

    def describe(engine: _Engine) -> str:
        made.append(engine.name)
        return f"info of {engine.name}"

    info = PerObject(describe)
    first, second = _Engine("first"), _Engine("second")
    assert [info(first), info(second), info(first), info(second)] == [
        "info of first",
        "info of second",
        "info of first",
        "info of second",
    ]
    assert made == ["first", "second"]

    del first
    gc.collect()
    assert len(info._found) == 1  # the dead engine's entry went with it
    # Objects made and dropped one after another often reuse an id: each is its own.
    for n in range(50):
        assert info(_Engine(f"new {n}")) == f"info of new {n}"
    gc.collect()
    assert len(info._found) == 1 and info(second) == "info of second"


def test_one_value_when_threads_race_for_a_new_object() -> None:
    made: list[int] = []
    barrier = threading.Barrier(8)

    def slow(engine: _Engine) -> int:
        made.append(1)
        return id(engine)

    info = PerObject(slow)
    engine = _Engine("shared")
    seen: list[int] = []

    def hit() -> None:
        barrier.wait()
        seen.append(info(engine))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1] and seen == [id(engine)] * 8
