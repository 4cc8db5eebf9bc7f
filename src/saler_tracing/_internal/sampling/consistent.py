"""Consistent probability sampling on the trace id (OpenTelemetry TraceState ``th``/``rv``).

Every participant reads the same 56-bit randomness ``R`` from a trace: the ``rv`` value of
the ``ot`` tracestate entry when present, otherwise the low 56 bits of the trace id (random
by W3C Trace Context Level 2 when its random flag is set; the SDK's own ids are random). A
sampler with probability ``p`` has the rejection threshold ``T = (1 - p) · 2**56`` and keeps
the trace when ``R >= T``. Because ``R`` is shared, a service with a lower threshold (a higher
probability) keeps every trace that a service with a higher threshold kept: a trace kept at
1 % upstream is kept by every service downstream sampling at 1 % or more.

The threshold travels as ``th`` in the ``ot`` entry (hex, trailing zeros dropped, ``th:0``
meaning 100 %) so that consumers can weight spans (adjusted count ``1/p``).
"""

from __future__ import annotations

from opentelemetry.trace import TraceState

RANDOMNESS_BITS = 56
MAX_THRESHOLD = 1 << RANDOMNESS_BITS  # T == 2**56 rejects everything: probability 0
RANDOMNESS_MASK = MAX_THRESHOLD - 1
_HEX_DIGITS = RANDOMNESS_BITS // 4
# Significant hex digits kept in ``th`` past its leading ``f``s: about 16 bits of precision,
# as the collector's samplers write it, and the header stays short.
_PRECISION_DIGITS = 4
OT_KEY = "ot"


def threshold(probability: float) -> int:
    """The rejection threshold of ``probability``, rounded to the precision ``th`` carries."""
    if probability >= 1.0:
        return 0
    if probability <= 0.0:
        return MAX_THRESHOLD
    exact = MAX_THRESHOLD - round(probability * MAX_THRESHOLD)
    text = f"{exact:014x}"
    leading_f = len(text) - len(text.lstrip("f"))
    digits = min(_HEX_DIGITS, leading_f + _PRECISION_DIGITS)
    unit = 1 << (4 * (_HEX_DIGITS - digits))
    rounded = round(exact / unit) * unit
    # Rounding must never turn a small probability into zero or a large one into 100 %.
    return min(max(rounded, 1), MAX_THRESHOLD - 1)


def probability_of(th: int) -> float:
    return (MAX_THRESHOLD - th) / MAX_THRESHOLD


def encode_threshold(th: int) -> str:
    """``th`` as written in tracestate: up to 14 hex digits, trailing zeros removed."""
    if th == 0:
        return "0"
    return f"{th:014x}".rstrip("0")


def decode_threshold(text: str) -> int | None:
    """The threshold of a ``th`` value, ``None`` when malformed (it is then ignored)."""
    if not 1 <= len(text) <= _HEX_DIGITS:
        return None
    try:
        return int(text.ljust(_HEX_DIGITS, "0"), 16)
    except ValueError:
        return None


def parse_ot(value: str | None) -> dict[str, str]:
    """The ``key:value;...`` members of the ``ot`` tracestate entry, malformed ones skipped."""
    out: dict[str, str] = {}
    if not value:
        return out
    for member in value.split(";"):
        key, sep, val = member.partition(":")
        if sep and key and key not in out:
            out[key] = val
    return out


def serialize_ot(members: dict[str, str]) -> str:
    return ";".join(f"{key}:{val}" for key, val in members.items())


def randomness(trace_id: int, ot: dict[str, str]) -> int:
    """``R``: the explicit ``rv`` when valid, else the low 56 bits of the trace id."""
    rv = ot.get("rv")
    if rv is not None and len(rv) == _HEX_DIGITS:
        try:
            return int(rv, 16)
        except ValueError:
            pass
    return trace_id & RANDOMNESS_MASK


def incoming_threshold(ot: dict[str, str]) -> int | None:
    raw = ot.get("th")
    return decode_threshold(raw) if raw is not None else None


def with_threshold(state: TraceState, ot: dict[str, str], th: int | None) -> TraceState:
    """``state`` with ``th`` set (or erased when ``None``), other ``ot`` members kept.

    Per the TraceState handling spec the OpenTelemetry values share the one ``ot`` entry;
    an updated entry moves to the front of the list, as W3C Trace Context asks.
    """
    members = dict(ot)
    if th is None:
        if "th" not in members:
            return state
        del members["th"]
    else:
        encoded = encode_threshold(th)
        if members.get("th") == encoded:
            return state
        members["th"] = encoded
    if not members:
        return state.delete(OT_KEY) if OT_KEY in state else state
    return state.update(OT_KEY, serialize_ot(members))
