"""Types of the compiled module ``_speedups.c`` (see encode.py)."""

from collections.abc import Callable
from typing import Any

def span_field(
    trace_id: int,
    span_id: int,
    state_field: bytes,
    parent_span_id: int | None,
    name: str,
    kind: int,
    start: int | None,
    end: int | None,
    attributes: dict[str, Any],
    rare: bytes,
    tail: bytes,
    /,
) -> bytes | None: ...
def fields_field(
    fields: tuple[Any, ...],
    trace_states: dict[int, tuple[object, bytes]],
    kinds: tuple[Any, ...],
    tails: tuple[tuple[Any, ...], tuple[Any, ...]],
    /,
) -> bytes | None: ...

class Offer:
    """The export end's ``on_end`` for the common span (see processor.py)."""

    def __new__(
        cls,
        items: Any,
        capacity: int,
        threshold: int,
        max_bytes: int,
        after: Callable[[int], None],
        slow: Callable[[Any], None],
        cache: dict[str, Any],
        read_fields: Callable[[Any], Any],
        clock: Callable[[], float],
        states: dict[int, tuple[object, bytes]],
        kinds: tuple[Any, ...],
        tails: tuple[tuple[Any, ...], tuple[Any, ...]],
        /,
    ) -> Offer: ...
    def __call__(self, span: Any, /) -> None: ...

class Pass:
    """The guarded root's ``on_end`` for the common child span (see fused.py)."""

    def __new__(
        cls,
        slow: Callable[[Any], None],
        on_error: Callable[[Exception], None],
        span_type: type,
        read_fields: Callable[[Any], Any],
        guards: tuple[tuple[dict[str, Any], str, object], ...],
        quick: tuple[Any, ...] | None,
        end_dict: dict[str, Any],
        /,
    ) -> Pass: ...
    def __call__(self, span: Any, /) -> None: ...
