"""The compiled encoder (``_speedups.span_field``) against the Python path it stands in for:
the same bytes for every span it takes, and every span it does not take handed back (``None``)
rather than encoded wrongly or raised into the exporter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind

from saler_tracing._internal.export import encode as encode_module
from tests.helpers.spans import SERVER_ATTRIBUTES, ended_spans

compiled = encode_module._compiled
pytestmark = pytest.mark.skipif(
    compiled is None,
    reason="saler_tracing._internal.export._speedups is not built (no C compiler at install); "
    "test_encode.py fails on that in its compiled run",
)

_TAIL = b"\x7a\x00\x85\x01\x00\x01\x00\x00"


def both(
    attributes: dict[Any, Any],
    *,
    trace_id: int = 0x0AF7651916CD43DD8448EB211C80319C,
    span_id: int = 0xB7AD6B7169203331,
    state: bytes = b"",
    parent: int | None = 0x00F067AA0BA902B7,
    name: str = "GET /items/{item_id}",
    kind: SpanKind = SpanKind.SERVER,
    start: int | None = 1_700_000_000_000_000_000,
    end: int | None = 1_700_000_000_000_250_000,
    tail: bytes = _TAIL,
) -> tuple[bytes | None, bytes]:
    """The compiled field (or ``None``) and the Python path's, for the same span."""
    assert compiled is not None
    ours = compiled(
        trace_id, span_id, state, parent, name, kind.value + 1, start, end, attributes, b"", tail
    )
    parent_ctx = None if parent is None else (0, parent, False)
    reference = encode_module._python_field(
        trace_id, span_id, state, parent_ctx, name, kind, start, end, attributes, None, tail
    )
    return ours, reference


SERVER_SPAN = SERVER_ATTRIBUTES


def test_a_server_span_takes_the_compiled_path_with_the_same_bytes() -> None:
    ours, reference = both(SERVER_SPAN)
    assert ours is not None, "the common case must not fall back to Python"
    assert ours == reference


@pytest.mark.parametrize(
    "change",
    [
        {"parent": None},
        {"start": None},
        {"end": None},
        {"start": 0, "end": None},
        {"name": ""},
        {"state": b"\x1a\x05a=b,c"},
        {"trace_id": 1},
        {"trace_id": 2**64 - 1},
        {"trace_id": 2**64},
        {"trace_id": 2**128 - 1},
        {"span_id": 2**64 - 1},
        {"kind": SpanKind.INTERNAL},
        {"name": "x" * 200},  # a two-byte length
        {"name": "é" * 9000},  # a three-byte length, past the stack buffer
    ],
    ids=repr,
)
def test_every_fixed_field_shape_matches(change: dict[str, Any]) -> None:
    ours, reference = both(SERVER_SPAN, **change)
    assert ours is not None
    assert ours == reference


def test_lists_and_tuples_of_scalars_take_the_compiled_path() -> None:
    ours, reference = both(
        {
            "http.request.header.accept": ["text/html", "application/json"],
            "empty": [],
            "ints": (1, -2, 2**63 - 1),
            "mixed": ("a", True, 1.5, None, b"\x00", 0),
            "long": ["x" * 300] * 3,  # two-byte lengths inside the array
        }
    )
    assert ours is not None
    assert ours == reference


def test_large_attributes_grow_the_buffer_and_match() -> None:
    statement = "SELECT " + ", ".join(f"column_{i}" for i in range(20_000))
    ours, reference = both({"db.query.text": statement, "blob": b"\x00" * 70_000, "n": -1})
    assert ours is not None
    assert ours == reference


class _Text(str):
    pass


@pytest.mark.parametrize(
    "attributes",
    [
        {"big": 2**63},  # outside int64: the Python path decides (the official encoder refuses)
        {"small": -(2**63) - 1},
        {"nested": [["a"], ["b"]]},
        {"list_of_a_subclass": ["a", _Text("b")]},
        {"tuple_past_int64": (1, 2**64)},
        {"subclass": _Text("x")},
        {"surrogate": "\udc80"},
        {"\udc80": "key with a lone surrogate"},
        {1: "key that is not a string"},
        {"object": object()},
    ],
    ids=repr,
)
def test_what_it_does_not_take_it_hands_back(attributes: dict[Any, Any]) -> None:
    assert compiled is not None
    got = compiled(1, 2, b"", None, "n", 1, 1, 2, {"ok": "yes", **attributes}, b"", b"")
    assert got is None


@pytest.mark.parametrize(
    "change",
    [
        {"trace_id": 2**128},
        {"trace_id": -1},
        {"span_id": 2**64},
        {"parent": -1},
        {"start": -5},
        {"name": "\udc80"},
    ],
    ids=repr,
)
def test_ids_and_times_out_of_range_are_handed_back(change: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "trace_id": 1,
        "span_id": 2,
        "parent": None,
        "name": "n",
        "start": 1,
        **change,
    }
    assert compiled is not None
    got = compiled(
        args["trace_id"], args["span_id"], b"", args["parent"], args["name"], 1,
        args["start"], 2, {}, b"", b"",
    )  # fmt: skip
    assert got is None


def test_rare_fields_and_tail_are_written_where_the_python_path_writes_them() -> None:
    assert compiled is not None
    rare = b"\x50\x03"  # dropped attribute count 3 (field 10), after the attributes (field 9)
    got = compiled(1, 2, b"", None, "n", 1, 1, 2, {"a": "b"}, rare, b"\x7a\x00")
    assert got is not None
    assert got.endswith(b"\x4a\x08\x0a\x01a\x12\x03\x0a\x01b" + rare + b"\x7a\x00")


def test_wrong_argument_count_is_a_type_error() -> None:
    assert compiled is not None
    with pytest.raises(TypeError, match="11 arguments"):
        compiled(1, 2)  # type: ignore[call-arg]


handled = (
    st.text(max_size=150)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.booleans()
    | st.floats(allow_nan=True)
    | st.binary(max_size=150)
    | st.none()
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=140),
        handled | st.lists(handled, max_size=5) | st.tuples(handled, handled),
        max_size=12,
    ),
    st.integers(min_value=0, max_value=2**128 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    st.text(max_size=200),
    st.sampled_from(list(SpanKind)),
    st.none() | st.integers(min_value=0, max_value=2**64 - 1),
    st.none() | st.integers(min_value=0, max_value=2**64 - 1),
)
def test_random_spans_match_the_python_path(
    attributes: dict[str, Any],
    trace_id: int,
    span_id: int,
    parent: int | None,
    name: str,
    kind: SpanKind,
    start: int | None,
    end: int | None,
) -> None:
    ours, reference = both(
        attributes,
        trace_id=trace_id,
        span_id=span_id,
        parent=parent,
        name=name,
        kind=kind,
        start=start,
        end=end,
    )
    texts = [name, *attributes]
    for value in attributes.values():
        texts.extend(value if isinstance(value, list | tuple) else [value])
    surrogates = any(isinstance(s, str) and _has_surrogate(s) for s in texts)
    if surrogates:  # not UTF-8: the Python path decides (it drops the attribute and logs)
        assert ours is None
    else:
        assert ours is not None
        assert ours == reference


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --- fields_field: the same field straight from a span's fields --------------------------------


def _python_encoding(span: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ...]:
    with monkeypatch.context() as patch:
        patch.setattr(encode_module, "_compiled", None)
        patch.setattr(encode_module, "_compiled_fields", None)
        return encode_module.encode(span)


def test_sdk_spans_take_the_fields_path_with_the_python_paths_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saler_tracing._internal.sdk.private import span_fields

    fields_field = encode_module._compiled_fields
    assert fields_field is not None
    taken = []
    for span in ended_spans():
        encode_module.encode(span)  # the trace state is cached on the first span of a trace
        fields = span_fields(span)
        assert fields is not None
        got = fields_field(
            fields,
            encode_module._trace_states,
            encode_module._KIND_VALUES,
            encode_module._TAIL_ROWS,
        )
        reference = _python_encoding(span, monkeypatch)
        assert encode_module.encode(span) == reference
        if got is not None:
            assert got == reference[2], span.name
            taken.append(span.name)
    # Every kind, status code and parent shape; only the description and the event are not.
    assert sorted(taken) == sorted(
        ["GET /a", "ok", "error", "a root of its own"] + [f"child {kind.name}" for kind in SpanKind]
    )


@pytest.mark.parametrize(
    "fields",
    [
        (),
        ("not", "a", "span"),
        tuple(range(12)),
        [None] * 12,
        None,
    ],
    ids=repr,
)
def test_fields_it_does_not_recognise_are_handed_back(fields: Any) -> None:
    fields_field = encode_module._compiled_fields
    assert fields_field is not None
    got = fields_field(
        fields, encode_module._trace_states, encode_module._KIND_VALUES, encode_module._TAIL_ROWS
    )
    assert got is None


def test_a_trace_state_not_cached_yet_is_handed_back_then_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saler_tracing._internal.sdk.private import span_fields

    fields_field = encode_module._compiled_fields
    assert fields_field is not None
    monkeypatch.setattr(encode_module, "_trace_states", {})
    server = next(s for s in ended_spans() if s.name == "GET /a")
    fields = span_fields(server)
    args = (
        fields,
        encode_module._trace_states,
        encode_module._KIND_VALUES,
        encode_module._TAIL_ROWS,
    )
    assert fields_field(*args) is None
    assert encode_module.encode(server) == _python_encoding(server, monkeypatch)
    assert fields_field(*args) == encode_module.encode(server)[2]
