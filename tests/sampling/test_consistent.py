"""Consistent probability: thresholds, the ``th`` encoding, and nesting of decisions."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import TraceState

from saler_tracing._internal.sampling import consistent as cp


@pytest.mark.parametrize(
    ("probability", "th"),
    [(1.0, "0"), (0.5, "8"), (0.25, "c"), (0.1, "e666"), (0.01, "fd70a"), (0.001, "ffbe77")],
)
def test_threshold_encodes_as_the_spec_examples(probability: float, th: str) -> None:
    encoded = cp.encode_threshold(cp.threshold(probability))
    assert encoded == th
    decoded = cp.decode_threshold(encoded)
    assert decoded is not None
    assert cp.probability_of(decoded) == pytest.approx(probability, rel=1e-3)


def test_zero_probability_is_never_sampled_and_tiny_ones_stay_positive() -> None:
    assert cp.threshold(0.0) == cp.MAX_THRESHOLD
    assert 0 < cp.probability_of(cp.threshold(1e-12)) < 1e-10


@pytest.mark.parametrize("bad", ["", "g", "123456789abcdef0", "zz"])
def test_malformed_th_is_ignored(bad: str) -> None:
    assert cp.decode_threshold(bad) is None


@given(
    low=st.floats(min_value=1e-6, max_value=1.0),
    high=st.floats(min_value=1e-6, max_value=1.0),
    r=st.integers(min_value=0, max_value=cp.MAX_THRESHOLD - 1),
)
def test_a_trace_kept_at_a_lower_probability_is_kept_at_every_higher_one(
    low: float, high: float, r: int
) -> None:
    low, high = min(low, high), max(low, high)
    if r >= cp.threshold(low):
        assert r >= cp.threshold(high)


def test_randomness_prefers_rv_and_otherwise_reads_the_low_56_bits() -> None:
    trace_id = (0xABCDEF << 56) | 0x123456789ABCDE
    assert cp.randomness(trace_id, {}) == 0x123456789ABCDE
    assert cp.randomness(trace_id, {"rv": "ffffffffffffff"}) == cp.MAX_THRESHOLD - 1
    assert cp.randomness(trace_id, {"rv": "short"}) == 0x123456789ABCDE


def test_th_update_keeps_other_members_and_vendors() -> None:
    state = TraceState([("vendor", "x"), ("ot", "rv:0123456789abcd;th:8;foo:bar")])
    ot = cp.parse_ot(state.get("ot"))
    updated = cp.with_threshold(state, ot, cp.threshold(0.25))
    assert updated.get("vendor") == "x"
    assert cp.parse_ot(updated.get("ot")) == {"rv": "0123456789abcd", "th": "c", "foo": "bar"}
    assert next(iter(updated.keys())) == "ot"  # a modified entry moves to the front
    erased = cp.with_threshold(updated, cp.parse_ot(updated.get("ot")), None)
    assert cp.parse_ot(erased.get("ot")) == {"rv": "0123456789abcd", "foo": "bar"}
    only_th = TraceState([("ot", "th:8")])
    assert "ot" not in cp.with_threshold(only_th, {"th": "8"}, None)


def test_kept_share_matches_the_probability_on_random_trace_ids() -> None:
    rng = random.Random(1)
    th = cp.threshold(0.1)
    kept = sum(cp.randomness(rng.getrandbits(128), {}) >= th for _ in range(100_000))
    # Binomial(100000, 0.1): sigma = 94.9 traces; ±400 is a 4.2-sigma bound.
    assert abs(kept - 10_000) <= 400
