"""The one-pass prefilter only skips work: with it, text is scrubbed exactly as without it.

If a detector learns to find something the prefilter does not look at, these fail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saler_tracing._internal.scrub import prefilter
from saler_tracing._internal.scrub.keys import KeyRules
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
