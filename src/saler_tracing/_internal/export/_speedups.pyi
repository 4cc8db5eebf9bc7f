"""Types of the compiled module ``_speedups.c`` (see encode.py)."""

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
