"""Types of the compiled module ``_quick.c`` (see scrubber.py)."""

from typing import Any

def clean(
    attrs: Any,
    to_check: tuple[tuple[str, str, str], ...],
    clean: set[str],
    harmless: set[bytes] | None,
    statements: set[str],
    /,
) -> int: ...
