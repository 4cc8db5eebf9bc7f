"""The frontend section's Core Web Vitals ratings, at their bounds (web.dev's thresholds)."""

from __future__ import annotations

import pytest

from saler_tracing.server.query.frontend import rating


@pytest.mark.parametrize(
    ("vital", "p75", "expected"),
    [
        ("LCP", 2500.0, "good"),
        ("LCP", 2500.1, "needs improvement"),
        ("LCP", 4000.0, "needs improvement"),
        ("LCP", 4000.1, "poor"),
        ("INP", 200.0, "good"),
        ("INP", 501.0, "poor"),
        ("CLS", 0.1, "good"),
        ("CLS", 0.26, "poor"),
        ("TTFB", 800.0, "good"),
        ("TTFB", 1000.0, "needs improvement"),
        ("XYZ", 1.0, "unrated"),
    ],
)
def test_ratings_follow_the_core_web_vitals_thresholds(
    vital: str, p75: float, expected: str
) -> None:
    assert rating(vital, p75) == expected
