"""Scrubbing runs in ``span.end()``, in the application's thread: a huge or hostile attribute
must cost time in proportion to its size, never quadratic (which would hang the request).
Each input is 300–400 kB; a quadratic pattern takes minutes on them, a linear one well under
a second, so the timeout below only fires on a regression."""

from __future__ import annotations

import pytest

from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.scrub.build import build_scrubber

N = 100_000
HOSTILE = {
    "colon chain, then a secret": ("a:" * N + " password=hunter2", "password"),
    "long word, then an e-mail": ("a" * 3 * N + " ahmed@example.com", "email"),
    "long word, then a URL with userinfo": ("a" * 3 * N + " https://u:p@h.example/x", "userinfo"),
    "spaced digits": ("1 " * 2 * N, None),
    "dashed digits": ("12-" * N, None),
    "unterminated quoted secret": ('password="' + "x" * 3 * N, "password"),
    "repeated JWT prefix": ("eyJ" * N, None),
    "repeated Slack prefix": ("xoxb-" * N, "slack_token"),
    "repeated scheme words": ("bearer " * N, None),
    "upper-case and digits": ("AB12" * N, None),
    "many INSERT prefixes": ("insert into t (" * 20_000 + " values", None),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_scrubbed_in_linear_time(name: str) -> None:
    text, rule = HOSTILE[name]
    scrubber = build_scrubber(ScrubbingConfig(enabled=True))
    done = scrubber.search(text)
    if rule is None:
        assert done is None
    else:
        assert done is not None
        assert rule in done[1]


def test_a_value_cut_short_by_a_length_limit_does_not_leak_its_start() -> None:
    scrubber = build_scrubber(ScrubbingConfig(enabled=True))
    done = scrubber.search('{"password": "hunter2-and-then-the-limit-cut')
    assert done is not None
    assert "hunter2" not in done[0]
