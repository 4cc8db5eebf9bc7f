"""The one-pass prefilter only skips work: with it, text is scrubbed exactly as without it,
and so is a span's attributes with its verdicts remembered by digit shape.

If a detector learns to find something the prefilter does not look at, these fail."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.scrub import prefilter
from saler_tracing._internal.scrub.build import build_scrubber
from saler_tracing._internal.scrub.keys import KeyRules
from saler_tracing._internal.scrub.scrubber import Scrubber
from saler_tracing._internal.scrub.values import TextScrubber
from tests.privacy import corpus

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


def _pair(redact_ip: bool = False) -> tuple[TextScrubber, TextScrubber]:
    keys = KeyRules(safe_keys=(), extra_keys=())
    fast = TextScrubber(keys, redact_ip=redact_ip)
    slow = TextScrubber(keys, redact_ip=redact_ip)
    slow.families = None  # every value through every detector, as before the prefilter
    return fast, slow


FAST, SLOW = _pair()
FAST_IP, SLOW_IP = _pair(redact_ip=True)

# Text made of the pieces detectors look for, glued in any order, so generated strings
# often come close to (or hit) a finding.
PIECES = st.sampled_from(
    [
        "4111 1111 1111 1111",
        "+966 50 123 4567",
        "0501234567",
        "SA03 8000 0000 6080 1016 7519",
        "ahmed",
        "@",
        "%40",
        "example.com",
        "eyJhbGciOi",
        ".eyJzdWIi",
        "Bearer ",
        "basic ",
        "AKIA",
        "ghp_",
        "password",
        "=",
        ":",
        "：",
        "رقم البطاقة",
        "كلمة المرور",
        "https://",
        "user:pw@",
        "?a=1&token=",
        "{",
        "[",
        '"',
        "10.0.0.5",
        "fe80::1",
        "/orders/",
        "ORD-2024-",
        "-",
        " ",
        "(",
        ")",
        "٠٥٠١٢٣٤٥٦٧",
        "3f2a9c1e-5b7d-",  # hex ids and UUIDs take a shortcut of their own
        "96650123",
        "deadbeef",
        "-----",
    ]
)
TEXT = st.one_of(
    st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=8).map("".join),
    st.text(max_size=40),
)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(TEXT)
def test_prefilter_never_changes_the_result(text: str) -> None:
    assert FAST.scrub(text) == SLOW.scrub(text)
    assert FAST_IP.scrub(text) == SLOW_IP.scrub(text)


def test_the_whole_corpus_is_still_found_and_look_alikes_pass_unread() -> None:
    for secret in corpus.sensitive():
        for text in (secret.value, f"note: {secret.value} end", f"x {secret.value}"):
            assert FAST.scrub(text) == SLOW.scrub(text), text
            if secret.by_value:
                assert not prefilter.harmless(text), text
    skipped = [v for v in corpus.LOOK_ALIKES if prefilter.harmless(v)]
    # Most harmless values never reach a detector (the point of the prefilter).
    assert len(skipped) >= len(corpus.LOOK_ALIKES) // 2, skipped
    for value in corpus.LOOK_ALIKES:
        assert FAST.scrub(value) == SLOW.scrub(value), value


def _other_digits(text: str, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("0123456789") if "0" <= ch <= "9" else ch for ch in text)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(TEXT, st.integers(0, 2**32))
def test_texts_that_differ_only_in_their_digits_share_a_shape_and_a_verdict(
    text: str, seed: int
) -> None:
    # The scrubber remembers the prefilter's "nothing here" by digit shape: sound only while
    # no test of the prefilter tells one ASCII digit from another.
    other = _other_digits(text, seed)
    assert prefilter.digit_shape(text) == prefilter.digit_shape(other)
    for redact_ip in (False, True):
        assert prefilter.families(text, redact_ip) == prefilter.families(other, redact_ip)


def test_texts_of_other_shapes_have_other_shapes() -> None:
    shapes = {prefilter.digit_shape(t) for t in ("ORD-1", "ORD-12", "ORD-a", "ORD-١", "\ud800")}
    assert len(shapes) == 5


def test_the_corpus_keeps_its_verdicts_with_other_digits() -> None:
    texts = [s.value for s in corpus.sensitive()] + list(corpus.LOOK_ALIKES)
    for seed, text in enumerate(texts):
        other = _other_digits(text, seed)
        assert prefilter.families(text) == prefilter.families(other), (text, other)


def _scrubbers() -> tuple[Scrubber, Scrubber]:
    fast = build_scrubber(ScrubbingConfig(enabled=True))
    slow = build_scrubber(ScrubbingConfig(enabled=True))
    slow.text.families = None
    return fast, slow


FAST_S, SLOW_S = _scrubbers()


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4), st.integers(0, 2**32))
def test_a_scrubber_that_remembers_shapes_scrubs_as_one_without_the_prefilter(
    texts: list[str], seed: int
) -> None:
    # Each text, then the same with other digits (often the same shape, now remembered).
    for text in texts + [_other_digits(t, seed) for t in texts]:
        fast_report: list[str] = []
        slow_report: list[str] = []
        attrs = {"note": text, "order.ref": text}
        assert FAST_S.attributes(attrs, fast_report) == SLOW_S.attributes(attrs, slow_report)
        assert fast_report == slow_report
