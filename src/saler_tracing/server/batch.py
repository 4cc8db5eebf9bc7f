"""Spans in transit from a decoder to the store: columns, as Python lists or an Arrow table.

The ids' integer keys (``trace_key``, ``span_key``, ``parent_key``) and the resource's key are
the decoder's to compute: it holds the ids as bytes, where a key is a slice of them, and it can
run in a worker process, where the work does not fall on the store's one writer thread.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from typing import Any

from saler_tracing.server.model import COLUMN_NAMES, COLUMNS, COMPUTED, DERIVED

ID_KEYS = ("trace_key", "span_key", "parent_key")
# What a decoder fills: every column but the derived and store-computed ones.
BATCH_COLUMNS: tuple[str, ...] = tuple(
    name for name in COLUMN_NAMES if name not in DERIVED and name not in COMPUTED
)
# What list-built batches (the JSON decoder, tests) append to; to_arrow() adds the id keys.
LIST_COLUMNS: tuple[str, ...] = tuple(name for name in BATCH_COLUMNS if name not in ID_KEYS)
_ARROW_TYPES = {
    "VARCHAR": "string",
    "UTINYINT": "uint8",
    "BIGINT": "int64",
    "INTEGER": "int32",
    "UBIGINT": "uint64",
}
_LITTLE = sys.byteorder == "little"


def arrow_schema() -> Any:
    """The Arrow schema of :data:`BATCH_COLUMNS` (pyarrow imported only when asked)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = dict(COLUMNS)
    return pa.schema([(name, getattr(pa, _ARROW_TYPES[types[name]])()) for name in BATCH_COLUMNS])


def resource_key(resource_json: str) -> int:
    """A resource's key: 64 bits of a hash of its JSON, the same in every process and run."""
    return int.from_bytes(hashlib.blake2b(resource_json.encode(), digest_size=8).digest(), "big")


_offsets: dict[tuple[int, int], Any] = {}


def _fixed_hex(ids: list[bytes], width: int) -> Any:
    """Ids of ``width`` bytes as one string array of lowercase hex, built from their joined
    bytes: no ``str`` per id."""
    import pyarrow as pa

    n = len(ids)
    offsets = _offsets.get((n, width))
    if offsets is None:
        if len(_offsets) >= 64:
            _offsets.clear()
        step = 2 * width
        offsets = _offsets[n, width] = pa.py_buffer(array("i", range(0, step * n + 1, step)))
    data = pa.py_buffer(b"".join(ids).hex().encode())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, data])


def column(value: Any, n: int, arrow_type: Any = None) -> Any:
    """``value`` ``n`` times, as an Arrow array (a string or a null unless ``arrow_type``)."""
    import pyarrow as pa

    if arrow_type is None:
        arrow_type = pa.string() if value is not None else pa.null()
    return pa.repeat(pa.scalar(value, arrow_type), n)


def _low64(joined: bytes, width: int) -> Any:
    """The low 64 bits of each ``width``-byte big-endian id in ``joined``, as uint64."""
    import pyarrow as pa

    words = array("Q", joined)
    if _LITTLE:
        words.byteswap()
    if width == 16:
        words = words[1::2]
    return pa.Array.from_buffers(pa.uint64(), len(words), [None, pa.py_buffer(words)])


def id_columns(
    trace_ids: list[bytes], span_ids: list[bytes], parents: list[bytes]
) -> dict[str, Any]:
    """The id columns and their keys from valid binary ids (16, 8 and 0-or-8 bytes)."""
    import pyarrow as pa
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    parent_keys = _low64(b"".join(parents), 8)
    if len(parent_keys) == len(parents):
        parent_hex = _fixed_hex(parents, 8)
    else:  # roots have no parent: nulls (and empty ids) in their places
        has_parent = pa.array([len(p) == 8 for p in parents], pa.bool_())
        parent_keys = pc.replace_with_mask(
            pa.nulls(len(parents), pa.uint64()), has_parent, parent_keys
        )
        parent_hex = pa.array([p.hex() for p in parents], pa.string())
    return {
        "trace_id": _fixed_hex(trace_ids, 16),
        "span_id": _fixed_hex(span_ids, 8),
        "parent_span_id": parent_hex,
        "trace_key": _low64(b"".join(trace_ids), 16),
        "span_key": _low64(b"".join(span_ids), 8),
        "parent_key": parent_keys,
    }


class SpanBatch:
    """Spans as one list per column (:data:`LIST_COLUMNS`), cheap to append to; or, as the
    protobuf decoder builds them, an Arrow table in :attr:`table`. :attr:`resources` maps each
    ``resource_key`` of the batch to the resource's JSON."""

    __slots__ = (
        "clock_adjusted",
        "columns",
        "ipc",
        "normalised",
        "reject_reason",
        "rejected",
        "resources",
        "table",
    )

    def __init__(self, table: Any = None, resources: dict[int, str] | None = None) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in LIST_COLUMNS}
        self.table = table
        self.resources: dict[int, str] = resources if resources is not None else {}
        self.rejected = 0
        self.reject_reason = ""
        # Kept, but changed at decode time (:mod:`.receiver.validate`): spans moved back from
        # the future, spans whose kind, status or text was out of range.
        self.clock_adjusted = 0
        self.normalised = 0
        self.ipc: Any = None  # :attr:`table` in Arrow's IPC format, as a decoder process sent it

    def warnings(self) -> str:
        """What ``partial_success.error_message`` says: rejected spans, then adjusted ones."""
        parts = [self.reject_reason] if self.rejected and self.reject_reason else []
        if self.clock_adjusted:
            parts.append(
                f"{self.clock_adjusted} span(s) ended too far ahead of the server's clock: moved"
                " back to end on receipt (attribute saler_trace.clock_skew_ns holds the shift)"
            )
        if self.normalised:
            parts.append(
                f"{self.normalised} span(s) with a kind or status code outside the OTLP enums or"
                " invalid text: stored as UNSPECIFIED/UNSET, text repaired"
            )
        return "; ".join(parts)

    def __len__(self) -> int:
        if self.table is not None:
            return int(self.table.num_rows)
        return len(self.columns["span_id"])

    def to_arrow(self, schema: Any = None) -> Any:
        if self.table is not None:
            return self.table
        import pyarrow as pa

        c = self.columns
        data: dict[str, Any] = dict(c)
        data["trace_key"] = [int(t[16:], 16) for t in c["trace_id"]]
        data["span_key"] = [int(s, 16) for s in c["span_id"]]
        data["parent_key"] = [int(p, 16) if p else None for p in c["parent_span_id"]]
        return pa.Table.from_pydict(data, schema=schema or arrow_schema())
