"""A global tracer provider set by something else before ``configure()`` (OpenTelemetry sets
it once per process): spans go there, and the application is told why, by name."""

from __future__ import annotations

import sys

from tests.helpers.scripts import run_report


def test_a_provider_set_before_configure_is_named_in_one_warning() -> None:
    report = run_report(sys.executable, "tests.core.preset_provider_script")
    (warning,) = report["logged"]
    assert warning.startswith("saler_tracing WARNING ")
    assert "(opentelemetry.sdk.trace.TracerProvider) was set before configure()" in warning
    assert "Call saler_tracing.configure() before whatever sets it" in warning
    # What the warning says is what happens: the span went to the provider set first.
    assert report["theirs"] == ["work"]
    assert report["ours"] == []
