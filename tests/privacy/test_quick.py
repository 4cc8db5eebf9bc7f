"""The scrubber's first checks in C (``_quick.clean``) against the Python loop they stand in
for: the values it passes are only ever those the loop would pass over, whatever was cached
before, so a scrubber with it scrubs and reports exactly as one without it; everything else
goes to the loop, which still finds what the privacy corpus finds. And the scrub stage's own
pass for the common span, built on it: it passes on exactly what ``scrub`` would."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext, Status, StatusCode

from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.scrub import scrubber as scrubber_module
from saler_tracing._internal.scrub.build import build_scrubber
from saler_tracing._internal.scrub.scrubber import Scrubber
from saler_tracing._internal.scrub.stage import ScrubStage

quick = scrubber_module._quick_clean
built = pytest.mark.skipif(
    quick is None, reason="_quick is not built: test_the_compiled_check_is_built fails on it"
)


def test_the_compiled_check_is_built() -> None:
    if quick is None:
        pytest.fail(
            "saler_tracing._internal.scrub._quick is not built: reinstall with a C compiler "
            "present (make .venv/.installed, or pip install -e .)"
        )


def _quick_says(scrubber: Scrubber, attrs: dict[str, Any]) -> bool:
    """Whether the compiled check passes all of ``attrs`` with the scrubber's caches as they
    are (the loop then does not run)."""
    assert quick is not None
    to_check = scrubber._keys_to_check(tuple(attrs))
    clean, harmless, _, _, _, statements = scrubber._hot
    families = scrubber.text.families
    cleared = quick(attrs, to_check, clean, None if families is None else harmless, statements)
    return cleared == len(to_check)


def _python_loop(
    scrubber: Scrubber, attrs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any] | None, list[str]]:
    report: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(scrubber_module, "_quick_clean", None)
        return scrubber.attributes(attrs, report), report


SPAN = {
    "http.request.method": "GET",
    "url.path": "/orders/1234",
    "user_agent.original": "python-httpx/0.27",
    "db.query.text": "SELECT id FROM orders WHERE id = $1",
    "http.response.status_code": 200,
    "server.port": 8000,
    "ratio": 0.5,
    "cached": True,
}


@built
def test_a_mapping_seen_clean_is_passed_by_the_compiled_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scrubber = build_scrubber(ScrubbingConfig(enabled=True))
    assert not _quick_says(scrubber, SPAN), "nothing is cached yet: the loop must look"
    assert _python_loop(scrubber, SPAN, monkeypatch) == (None, [])
    assert _quick_says(scrubber, SPAN)
    # Another id in the path has the same digit shape: passed without the loop too.
    assert _quick_says(scrubber, {**SPAN, "url.path": "/orders/9876"})
    assert scrubber.attributes({**SPAN, "url.path": "/orders/9876"}, []) is None


@built
@pytest.mark.parametrize(
    ("sensitive", "found"),
    [
        ({"user_agent.original": "ahmed@example.com"}, True),
        ({"url.path": "/reset?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk"}, True),
        ({"db.query.text": "SELECT id FROM users WHERE email = 'ahmed@example.com'"}, True),
        ({"note": 4111111111111111}, True),  # a card number as an integer
        ({"note": 2**70}, False),  # past int64: the loop judges it
        ({"password": "hunter22"}, True),  # a sensitive key: marked, never passed
        ({"url.path": ["/a", "/b"]}, False),  # a list: the loop looks at each item
        ({"url.path": "/o/\udc80\udc81\udc82"}, False),  # not UTF-8: the loop decides
    ],
    ids=repr,
)
def test_what_needs_the_loop_is_never_passed(
    sensitive: dict[str, Any], found: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    scrubber = build_scrubber(ScrubbingConfig(enabled=True))
    _python_loop(scrubber, SPAN, monkeypatch)  # warm every cache with the harmless span
    attrs = {**SPAN, **sensitive}
    assert not _quick_says(scrubber, attrs)
    report: list[str] = []
    out = scrubber.attributes(attrs, report)
    if found:
        assert report, "the loop still finds it"
        assert out is not None


@built
def test_with_extra_patterns_the_prefilter_is_off_and_only_cleared_values_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scrubber = build_scrubber(ScrubbingConfig(enabled=True, extra_patterns={"order": r"ORD-\d{6}"}))
    assert scrubber.text.families is None
    _python_loop(scrubber, SPAN, monkeypatch)
    assert _quick_says(scrubber, SPAN)
    # Same shape, new value: without the prefilter only the value itself counts as cleared.
    assert not _quick_says(scrubber, {**SPAN, "url.path": "/orders/ORD-123456"})
    report: list[str] = []
    out = scrubber.attributes({**SPAN, "url.path": "/orders/ORD-123456"}, report)
    assert out is not None and "ORD-123456" not in str(out["url.path"])
    assert report


@built
def test_input_of_another_shape_is_handed_to_the_loop() -> None:
    assert quick is not None
    text = ("a", "text", "")
    assert quick({}, (), set(), set(), set()) == 0
    assert quick({"a": "x" * 10}, (text,), set(), set(), set()) == 0
    assert quick({"a": 1}, (("missing", "text", ""),), set(), set(), set()) == 0
    assert quick({"a": 1}, (("a",),), set(), set(), set()) == 0
    assert quick({"a": 1}, [text], set(), set(), set()) == 0  # type: ignore[arg-type]
    assert quick({"a": 1}, (text,), set(), None, set()) == 1
    # It stops at the first value that needs the loop; the ones after it are the loop's.
    pair = (text, ("b", "text", ""))
    assert quick({"a": 1, "b": "ahmed@example.com"}, pair, set(), set(), set()) == 1
    assert quick({"a": "ahmed@example.com", "b": 1}, pair, set(), set(), set()) == 0
    with pytest.raises(TypeError, match="5 arguments"):
        quick({}, ())  # type: ignore[call-arg]


values = (
    st.text(max_size=40)
    | st.sampled_from(
        ["ahmed@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "10.0.0.7", "Bearer abc"]
    )
    | st.integers()
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
    | st.lists(st.text(max_size=10), max_size=3)
)
keys = st.sampled_from(
    ["url.path", "user_agent.original", "db.query.text", "password", "note", "client.address"]
)


@built
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(keys, values, min_size=1, max_size=6), min_size=1, max_size=4),
    st.booleans(),
)
def test_a_scrubber_with_it_scrubs_and_reports_as_one_without_it(
    mappings: list[dict[str, Any]], extra: bool
) -> None:
    config = ScrubbingConfig(
        enabled=True,
        redact_client_ip=True,
        extra_patterns={"order": r"ORD-\d{4}"} if extra else {},
    )
    with_it, without_it = build_scrubber(config), build_scrubber(config)
    original = scrubber_module._quick_clean
    for attrs in mappings:  # earlier mappings fill the caches the later ones are checked with
        passed = _quick_says(with_it, attrs)
        report: list[str] = []
        out = with_it.attributes(attrs, report)
        scrubber_module._quick_clean = None
        try:
            reference: list[str] = []
            expected = without_it.attributes(attrs, reference)
        finally:
            scrubber_module._quick_clean = original
        assert (out, report) == (expected, reference), attrs
        if passed:
            assert out is None and report == [], attrs


# --- the stage's own pass: what ``ScrubStage.on_end`` passes on without ``scrub`` ----------------


class _Collect(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def _ended(name: str, attributes: dict[str, Any], description: str | None = None) -> ReadableSpan:
    """An ended span as the SDK hands it to the pipeline (its containers are the SDK's)."""
    return ReadableSpan(
        name,
        SpanContext(1, 2, is_remote=False),
        attributes=BoundedAttributes(attributes=attributes),
        events=BoundedList(None),
        links=BoundedList(None),
        status=Status(StatusCode.ERROR, description) if description else Status(),
    )


def _stages(config: ScrubbingConfig) -> tuple[ScrubStage, _Collect, ScrubStage, _Collect]:
    passed, reference = _Collect(), _Collect()
    with_pass = ScrubStage(passed, build_scrubber(config))
    without = ScrubStage(reference, build_scrubber(config))
    without.quick = None  # every span through ``scrub``
    return with_pass, passed, without, reference


@built
def test_the_stage_passes_a_clean_span_on_itself_and_a_sensitive_one_scrubbed() -> None:
    stage, out, _, _ = _stages(ScrubbingConfig(enabled=True))
    assert stage.quick is not None
    clean = {"url.path": "/items/299", "http.request.method": "GET", "user_agent.original": "b/1"}
    first = _ended("GET /items/{id}", clean)
    scrubbed: list[ReadableSpan] = []
    scrub = stage.scrub
    stage.scrub = lambda span: scrubbed.append(span) or scrub(span)  # type: ignore[method-assign]
    stage.on_end(first)  # the first time through ``scrub``: its name and shapes are learnt
    again = _ended("GET /items/{id}", dict(clean, **{"url.path": "/items/300"}))
    stage.on_end(again)
    assert out.spans[1] is again
    assert scrubbed == [first], "a span like one seen clean is passed on without ``scrub``"
    secret = _ended("GET /items/{id}", dict(clean, **{"url.path": "/items/ahmed@example.com"}))
    stage.on_end(secret)
    assert scrubbed[-1] is secret and out.spans[2] is not secret
    assert out.spans[2].attributes["url.path"] == "/items/[REDACTED:email]"
    described = _ended("GET /items/{id}", clean, description="card 4111 1111 1111 1111")
    stage.on_end(described)
    assert out.spans[3].status.description == "card [REDACTED:card_number]"


@built
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET /a", "SELECT orders", "mail ahmed@example.com"]),
            st.dictionaries(keys, values, max_size=6),
            st.sampled_from([None, "timeout", "card 4111 1111 1111 1111"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_the_stage_passes_on_exactly_what_scrub_would(
    spans: list[tuple[str, dict[str, Any], str | None]], extra: bool
) -> None:
    config = ScrubbingConfig(
        enabled=True,
        redact_client_ip=True,
        extra_patterns={"order": r"ORD-\d{4}"} if extra else {},
    )
    stage, out, reference_stage, reference = _stages(config)
    for name, attributes, description in spans:  # earlier spans fill the caches
        span = _ended(name, attributes, description)
        stage.on_end(span)
        reference_stage.on_end(span)
        got, expected = out.spans[-1], reference.spans[-1]
        assert (got is span) == (expected is span), (name, attributes)
        assert got.name == expected.name
        assert dict(got.attributes or {}) == dict(expected.attributes or {})
        assert got.status.description == expected.status.description
    assert stage.figures() == reference_stage.figures()
