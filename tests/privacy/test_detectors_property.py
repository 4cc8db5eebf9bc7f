"""Property tests of the value detectors: what is generated valid is caught, what fails the
checksum is not."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saler_tracing._internal.scrub import detectors, numbers
from tests.privacy.corpus import iban_for

# Other tests' exporters retry with random jitter in background threads; hypothesis would
# take the global random state changing under it for a strategy using ``random``.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

# No timing checks: the suite runs on shared CI machines where generation can be slow.
SLOW_MACHINE = [HealthCheck.too_slow]
DIGIT = st.sampled_from("0123456789")
ISSUERS = st.sampled_from(
    [
        "4",
        "51",
        "55",
        "2221",
        "2720",
        "34",
        "37",
        "6011",
        "65",
        "62",
        "3528",
        "588845",
        "9682",
        "507803",
    ]
)
CONTEXT = st.sampled_from(["", "card: ", "رقم البطاقة ", "paid with ", "(", "«"])


def _luhn_digit(body: str) -> str:
    total = 0
    for index, ch in enumerate(reversed(body)):
        n = int(ch)
        if index % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


@st.composite
def cards(draw: st.DrawFn) -> str:
    prefix = draw(ISSUERS)
    length = draw(st.integers(min_value=max(13, len(prefix) + 2), max_value=19))
    body = prefix + "".join(
        draw(st.lists(DIGIT, min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    )
    number = body + _luhn_digit(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    if sep and len(number) == 16:
        return sep.join(number[i : i + 4] for i in range(0, 16, 4))
    return number


@given(cards(), CONTEXT, st.sampled_from(["", " thanks", ", OK", "."]))
@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
def test_valid_cards_are_found_whole(card: str, before: str, after: str) -> None:
    text = before + card + after
    found = [m for m in numbers.digit_runs(text) if m[2] == "card_number"]
    assert found == [(len(before), len(before) + len(card), "card_number")]


@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
@settings(max_examples=500, deadline=None, suppress_health_check=SLOW_MACHINE)
def test_digit_strings_failing_luhn_are_not_cards(digits: str) -> None:
    if numbers.luhn_valid(digits):
        digits = digits[:-1] + str((int(digits[-1]) + 1) % 10)  # now it fails Luhn
    assert not numbers.luhn_valid(digits)
    assert all(m[2] != "card_number" for m in numbers.digit_runs(f"order {digits} shipped"))


COUNTRIES = st.sampled_from(sorted(detectors.IBAN_LENGTHS))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(COUNTRIES)
    n = detectors.IBAN_LENGTHS[country] - 4
    bban = "".join(
        draw(
            st.lists(st.sampled_from("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"), min_size=n, max_size=n)
        )
    )
    return iban_for(country, bban)


@given(ibans(), st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
def test_valid_ibans_are_found(iban: str, grouped: bool) -> None:
    shown = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban
    text = f"حوّل إلى {shown} اليوم"
    assert detectors.ibans(text) == [(text.index(shown), text.index(shown) + len(shown), "iban")]


@given(ibans(), st.integers(min_value=4, max_value=10), st.integers(min_value=1, max_value=9))
@settings(deadline=None, suppress_health_check=SLOW_MACHINE)
def test_a_mistyped_iban_digit_is_not_an_iban(iban: str, pos: int, delta: int) -> None:
    if not iban[pos].isdigit():
        return
    wrong = iban[:pos] + str((int(iban[pos]) + delta) % 10) + iban[pos + 1 :]
    assert detectors.ibans(f"ref {wrong} end") == []  # mod-97 catches every single-digit slip


LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20)
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
TLD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6)


@given(
    LOCAL,
    st.lists(LABEL, min_size=1, max_size=3),
    TLD,
    st.sampled_from(["", "البريد: ", "mail to "]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_MACHINE)
def test_emails_are_found(local: str, labels: list[str], tld: str, before: str) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}"
    text = f"{before}{address} شكرا"
    found = detectors.emails(text)
    assert len(found) == 1
    start, end, rule = found[0]
    assert rule == "email"
    assert start <= text.index(address)
    assert end >= text.index("@") + 1
    assert text[start:end].endswith(tld)


@given(
    st.sampled_from(["+966 5", "+9665", "+971 5", "+20 10", "+20 12", "00966 5"]),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.sampled_from([" ", "-", ""]),
)
@settings(deadline=None, suppress_health_check=SLOW_MACHINE)
def test_gulf_and_egyptian_mobiles_are_found(prefix: str, digits: str, sep: str) -> None:
    number = prefix + digits[:4] + sep + digits[4:]
    if prefix.startswith(("+966", "+971", "00966")):
        number = prefix + digits[:3] + sep + digits[3:]
    text = f"اتصل على {number} بعد المغرب"
    found = numbers.digit_runs(text)
    assert [(m[0], m[1]) for m in found] == [(text.index(number), text.index(number) + len(number))]


_LOCAL = re.compile(r"[\w.+'-]{1,64}\Z")
_DOMAIN = re.compile(r"[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


def _emails_by_search(text: str) -> list[detectors.Match]:
    """The e-mail detector as it was, searching every start before the ``@``."""
    out: list[detectors.Match] = []
    for sign in ("@", "%40"):
        at = text.find(sign)
        while at != -1:
            local = _LOCAL.search(text, max(0, at - 64), at)
            domain = _DOMAIN.match(text, at + len(sign)) if local else None
            if (
                local
                and domain
                and not domain.group().rsplit(".", 1)[-1].isdigit()
                and not (
                    local.group() == "REDACTED"
                    and text[max(0, local.start() - 9) : local.start()] == "REDACTED:"
                )
            ):
                out.append((local.start(), domain.end(), "email"))
            at = text.find(sign, at + len(sign))
    return out


LOCAL_PIECES = ["a", "Z", "٣", ".", "+", "'", "-", "_", " ", "\n", "@", "%40", "x" * 70]


@settings(max_examples=3000, suppress_health_check=SLOW_MACHINE, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([*LOCAL_PIECES, "example.com", "REDACTED:REDACTED", "1.2"]),
            st.text(max_size=8),
        ),
        max_size=30,
    ).map("".join)
)
def test_the_local_part_is_found_where_searching_every_start_finds_it(text: str) -> None:
    assert detectors.emails(text) == _emails_by_search(text)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 70 + "@example.com",
        "a b" + "y" * 64 + "@example.com",
        "y" * 63 + "@example.com and " + "z" * 65 + "%40example.org",
        "é" * 66 + "@مثال.com",
        "https://REDACTED:REDACTED@host.example.com/",
        "x REDACTED@example.com",
        "\n" * 3 + "a.b+c'd-e_f@sub.example.co",
    ],
)
def test_long_and_edge_local_parts_are_found_as_before(text: str) -> None:
    assert detectors.emails(text) == _emails_by_search(text)
