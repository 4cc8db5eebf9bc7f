"""Property tests of the Gulf identity numbers: generated valid numbers are found whole in
the contexts they are written in; numbers that merely look alike (Unix times, order and
invoice numbers, prices, dates, numbers failing the check digit) are left alone."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from saler_tracing._internal.scrub import numbers

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIGIT = st.sampled_from("0123456789")
NEUTRAL = st.sampled_from(["", "value ", "customer ", "العميل ", '{"v": "', "note: ", "= '"])
IDENTITY = st.sampled_from(
    [
        "national id ",
        "National ID: ",
        "iqama ",
        "civil id ",
        "CPR ",
        "QID ",
        "identity no. ",
        "رقم الهوية ",
        "هوية ",
        "رقم الإقامة ",
        "سجل مدني ",
        "الرقم المدني ",
        "الرقم الشخصي ",
    ]
)
OTHER = st.sampled_from(
    [
        "order ",
        "order id ",
        "Order #",
        "invoice no. ",
        "ts=",
        "created_at ",
        "timestamp: ",
        "sku ",
        "price ",
        "رقم الطلب ",
        "فاتورة ",
        "tracking ",
        "exp: ",
    ]
)
AFTER = st.sampled_from(["", " rejected", "', ", '"}', ".", " تم"])


def _digits(draw: st.DrawFn, n: int) -> str:
    return "".join(draw(st.lists(DIGIT, min_size=n, max_size=n)))


def _luhn(body: str) -> str:
    return next(body + str(c) for c in range(10) if numbers.luhn_valid(body + str(c)))


@st.composite
def saudi_ids(draw: st.DrawFn) -> str:
    """Citizen IDs (1…) below the Unix times of logs, and Iqama numbers (2…)."""
    first = draw(st.sampled_from(["10", "11", "12", "13", "14", "2"]))
    return _luhn(first + _digits(draw, 9 - len(first)))


@st.composite
def kuwait_ids(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2025, 12, 31)))
    body = ("2" if born.year < 2000 else "3") + born.strftime("%y%m%d") + _digits(draw, 4)
    weights = (2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    assume(check < 10)  # such serials are not issued
    return body + str(check)


@st.composite
def weak_ids(draw: st.DrawFn) -> str:
    """Qatar (11 digits), Bahrain (9), Oman (8): no published check digit."""
    kind = draw(st.sampled_from(["qa", "bh", "om"]))
    if kind == "qa":
        return draw(st.sampled_from("23")) + _digits(draw, 2) + "634" + _digits(draw, 5)
    if kind == "bh":
        return _digits(draw, 2) + f"{draw(st.integers(1, 12)):02d}" + _digits(draw, 5)
    return _digits(draw, 8)


def _found(text: str, value: str) -> bool:
    start = text.index(value)
    return (start, start + len(value), "national_id") in numbers.digit_runs(text)


@given(st.one_of(saudi_ids(), kuwait_ids()), NEUTRAL, AFTER)
@SETTINGS
def test_checked_ids_are_found_by_structure_alone(number: str, before: str, after: str) -> None:
    assert _found(before + number + after, number)


@given(st.one_of(saudi_ids(), kuwait_ids(), weak_ids()), IDENTITY, AFTER)
@SETTINGS
def test_every_id_is_found_after_an_identity_word(number: str, before: str, after: str) -> None:
    assert _found(before + number + after, number)


@given(st.one_of(saudi_ids(), kuwait_ids(), weak_ids()), OTHER, AFTER)
@SETTINGS
def test_a_number_named_as_something_else_survives(number: str, before: str, after: str) -> None:
    text = before + number + after
    assert all(m[2] != "national_id" for m in numbers.digit_runs(text))


@given(st.integers(min_value=1_500_000_000, max_value=1_999_999_999), NEUTRAL, AFTER)
@SETTINGS
def test_unix_times_survive(seconds: int, before: str, after: str) -> None:
    assert numbers.digit_runs(before + str(seconds) + after) == []


@given(saudi_ids(), st.integers(min_value=1, max_value=9), NEUTRAL)
@SETTINGS
def test_a_wrong_check_digit_is_not_an_id(number: str, delta: int, before: str) -> None:
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    assert numbers.digit_runs(before + wrong) == []


@given(weak_ids(), NEUTRAL, AFTER)
@SETTINGS
def test_unchecked_shapes_need_their_word(number: str, before: str, after: str) -> None:
    assert all(m[2] != "national_id" for m in numbers.digit_runs(before + number + after))


@given(saudi_ids(), st.integers(min_value=0, max_value=99))
@SETTINGS
def test_prices_and_dates_survive(number: str, cents: int) -> None:
    assert numbers.digit_runs(f"{number}.{cents:02d} SAR") == []
    day = date(2000, 1, 1) + timedelta(days=int(number) % 9000)
    assert numbers.digit_runs(f"due {day.isoformat()} and {day.strftime('%Y%m%d')}") == []
