"""Scrubbing as a user meets it: defaults, word-boundary keys, the allow-list, the extension
points, pseudonyms, and the live span left alone."""

from __future__ import annotations

import json
import re

import pytest
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanContext

from saler_tracing import ConfigurationError, ScrubbingOptions, ScrubMatch, configure, span
from saler_tracing._internal import stats
from saler_tracing._internal.config.resolved import ScrubbingConfig
from saler_tracing._internal.errors import internal_error_counts, reset_internal_errors
from saler_tracing._internal.scrub.build import build_scrubber
from saler_tracing._internal.scrub.keys import KeyRules
from saler_tracing._internal.scrub.numbers import luhn_valid
from saler_tracing._internal.scrub.scrubber import Scrubber
from saler_tracing._internal.scrub.stage import ScrubStage
from saler_tracing.testing import SpanCapture

KEY = "k" * 32


def test_on_by_default_and_the_marker_never_echoes_the_secret(span_capture: SpanCapture) -> None:
    with span("checkout", password="hunter2-Blue!", note="mail ahmed@example.com please"):
        pass
    attrs = span_capture.one("checkout").attributes or {}
    assert attrs["password"] == "[REDACTED:password]"
    assert attrs["note"] == "mail [REDACTED:email] please"
    assert attrs["saler.scrubbed"] == ("note:email", "password:password")
    assert "hunter" not in repr(attrs)
    assert "ahmed" not in repr(attrs)


def test_the_live_span_the_application_holds_is_not_modified(span_capture: SpanCapture) -> None:
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span(
        "GET /u/ahmed@example.com", attributes={"token": "t0k3n-abc"}
    ) as live:
        live.add_event("e", {"email": "a@b.com"})
    exported = span_capture.one("GET /u/[REDACTED:email]")
    assert exported is not live
    assert live.name == "GET /u/ahmed@example.com"  # type: ignore[attr-defined]
    assert live.attributes["token"] == "t0k3n-abc"  # type: ignore[attr-defined]
    assert live.events[0].attributes["email"] == "a@b.com"  # type: ignore[attr-defined]
    assert "saler.scrubbed" not in live.attributes  # type: ignore[attr-defined]
    assert (exported.attributes or {})["token"] == "[REDACTED:token]"


def test_a_clean_span_is_passed_on_uncopied(span_capture: SpanCapture) -> None:
    with span("clean", route="/orders/{id}", order="ORD-2024-000123"):
        pass
    assert "saler.scrubbed" not in (span_capture.one("clean").attributes or {})


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("password", "password"),
        ("user.passwordHash", "password"),
        ("x-api-key", "api_key"),
        ("http.request.header.authorization", "authorization"),
        ("set-cookie", "cookie"),
        ("session_id", "session"),
        ("sessionId", "session"),
        ("user.session", "session"),
        ("csrf_token", "csrf"),
        ("private_key", "private_key"),
        ("cardNumber", "card_number"),
        ("cvv", "cvv"),
        ("iban", "iban"),
        ("national_id", "national_id"),
        ("ssn", "ssn"),
        ("access_token", "token"),
        ("user.email", "email"),
        ("customer_email_address", "email"),
        ("phone_number", "phone"),
        ("customer.mobile", "phone"),
        ("http.request.header.x-auth", "authorization"),
    ],
)
def test_sensitive_keys(key: str, rule: str) -> None:
    assert KeyRules().rule_for(key) == rule


@pytest.mark.parametrize(
    "key",
    [
        "browser_session_length",
        "token_count",
        "llm.usage.input_tokens",
        "author",
        "authority",
        "passenger_count",
        "keyboard.layout",
        "db.operation.name",
        "http.route",
        "cache.key",
        "idempotency_key",
        "session_count",
        "tokenizer",
        "pinned",
        "spin_rate",
        "email_template",
        "phone_country_code",
        "mobile_app_version",
    ],
)
def test_harmless_keys(key: str) -> None:
    assert KeyRules().rule_for(key) is None


def test_the_allow_list_skips_keys_and_values(span_capture: SpanCapture) -> None:
    with span("s", **{"http.route": "/users/{email}", "db.operation.name": "SELECT"}):
        pass
    assert (span_capture.one("s").attributes or {})["http.route"] == "/users/{email}"


@pytest.mark.saler_tracing(
    scrubbing=ScrubbingOptions(
        safe_keys=["support.*"],
        extra_keys=["loyalty_number"],
        extra_patterns={"order_secret": r"OS-[0-9]{6}"},
    )
)
def test_user_allow_list_extra_keys_and_patterns(span_capture: SpanCapture) -> None:
    with span(
        "s",
        **{
            "support.contact": "ahmed@example.com",
            "loyalty_number": "LN-88",
            "note": "code OS-123456 used",
        },
    ):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["support.contact"] == "ahmed@example.com"
    assert attrs["loyalty_number"] == "[REDACTED:custom_key]"
    assert attrs["note"] == "code [REDACTED:order_secret] used"


def _keep_internal_emails(match: ScrubMatch) -> object:
    if match.rule == "email" and str(match.value).endswith("@saler.internal"):
        return match.value
    if match.key == "card.pin":
        return "****"
    return None


@pytest.mark.saler_tracing(scrubbing=ScrubbingOptions(callback=_keep_internal_emails))
def test_callback_may_keep_or_replace(span_capture: SpanCapture) -> None:
    with span("s", ops="ops@saler.internal", customer="a@b.com", **{"card.pin": "1234"}):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["ops"] == "ops@saler.internal"
    assert attrs["customer"] == "[REDACTED:email]"
    assert attrs["card.pin"] == "****"


@pytest.mark.saler_tracing(
    scrubbing=ScrubbingOptions(
        pseudonymize_keys=["enduser.id"], pseudonymize_rules=["email"], hmac_key=KEY
    )
)
def test_pseudonyms_correlate_without_revealing(span_capture: SpanCapture) -> None:
    for who in ("Ahmed@Example.com", "ahmed@example.com", "fatima@example.com"):
        with span("s", **{"enduser.id": "cust-1001", "contact": who}):
            pass
    spans = span_capture.named("s")
    tokens = [(s.attributes or {})["contact"] for s in spans]
    assert all(re.fullmatch(r"\[HMAC:[0-9a-f]{16}\]", str(t)) for t in tokens)
    assert tokens[0] == tokens[1] != tokens[2]  # the same customer, whatever the case
    ids = {(s.attributes or {})["enduser.id"] for s in spans}
    assert len(ids) == 1
    assert "cust-1001" not in str(ids)


def test_pseudonyms_need_a_key_of_16_bytes() -> None:
    with pytest.raises(ConfigurationError, match="SALER_TRACING_SCRUB_HMAC_KEY"):
        configure(scrubbing=ScrubbingOptions(pseudonymize_keys=["enduser.id"]), environ={})
    with pytest.raises(ConfigurationError, match=r"scrubbing\.hmac_key"):
        configure(scrubbing=ScrubbingOptions(hmac_key="short"), environ={})
    with pytest.raises(ConfigurationError, match=r"extra_patterns\['bad'\]"):
        configure(scrubbing=ScrubbingOptions(extra_patterns={"bad": "(["}), environ={})


@pytest.mark.saler_tracing(environ={"SALER_TRACING_SCRUB_CLIENT_IP": "true"})
def test_client_ips_only_when_asked(span_capture: SpanCapture) -> None:
    with span(
        "s",
        **{
            "client.address": "203.0.113.7",
            "server.address": "10.0.0.5",
            "note": "from 2001:db8::1 via 198.51.100.2",
        },
    ):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["client.address"] == "[REDACTED:ip]"
    assert attrs["server.address"] == "10.0.0.5"
    assert attrs["note"] == "from [REDACTED:ip] via [REDACTED:ip]"


def test_ips_are_kept_by_default(span_capture: SpanCapture) -> None:
    with span("s", **{"client.address": "203.0.113.7"}):
        pass
    assert (span_capture.one("s").attributes or {})["client.address"] == "203.0.113.7"


@pytest.mark.saler_tracing(environ={"SALER_TRACING_SCRUB": "false"})
def test_scrubbing_can_be_turned_off(span_capture: SpanCapture) -> None:
    with span("s", password="visible"):
        pass
    assert (span_capture.one("s").attributes or {})["password"] == "visible"
    assert "scrubbing" not in stats.collect()  # no stale figures from an earlier pipeline


def test_redis_auth_and_sql_bind_parameters(span_capture: SpanCapture) -> None:
    attrs = {
        "db.system.name": "redis",
        "db.query.text": "AUTH default s3cret-pass",
        "db.query.parameter.password": "hunter2",
        "db.query.parameter.0": "4111 1111 1111 1111",
        "count": 4111111111111111,
    }
    with span("s", **attrs):
        pass
    got = span_capture.one("s").attributes or {}
    assert got["db.query.text"] == "AUTH [REDACTED:password]"  # user name too: safer
    assert got["db.query.parameter.password"] == "[REDACTED:password]"
    assert got["db.query.parameter.0"] == "[REDACTED:card_number]"
    assert got["count"] == "[REDACTED:card_number]"


def _broken_callback(match: ScrubMatch) -> object:
    raise RuntimeError("bug in the user's callback")


@pytest.mark.saler_tracing(scrubbing=ScrubbingOptions(callback=_broken_callback))
def test_a_failing_callback_leaves_the_redaction_in_place(
    span_capture: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALER_TRACING_RAISE_INTERNAL_ERRORS", "0")
    reset_internal_errors()
    with span("s", password="hunter2-Blue!"):
        pass
    assert (span_capture.one("s").attributes or {})["password"] == "[REDACTED:password]"
    assert internal_error_counts() == {"scrubbing callback": 1}


def test_a_span_the_scrubber_fails_on_is_dropped_not_exported_raw(
    span_capture: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALER_TRACING_RAISE_INTERNAL_ERRORS", "0")
    reset_internal_errors()

    def broken(self: Scrubber, attrs: object, report: list[str]) -> None:
        raise RuntimeError("scrubber bug")

    monkeypatch.setattr(Scrubber, "attributes", broken)
    with span("s", password="hunter2-Blue!"):  # the application sees no error
        pass
    assert span_capture.spans() == []  # fail closed: nothing unscrubbed leaves
    assert internal_error_counts() == {"span processor on_end": 1}


def test_percent_encoded_paths_are_judged_decoded(span_capture: SpanCapture) -> None:
    with span("s", **{"url.path": "/customers/%2B966501234567/orders"}):
        pass
    assert (span_capture.one("s").attributes or {})["url.path"] == (
        "/customers/[REDACTED:phone]/orders"
    )


def test_userinfo_already_redacted_by_semantic_conventions_is_kept(
    span_capture: SpanCapture,
) -> None:
    with span("s", **{"url.full": "https://REDACTED:REDACTED@api.example.com/v1?page=2"}):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["url.full"] == "https://REDACTED:REDACTED@api.example.com/v1?page=2"
    assert "saler.scrubbed" not in attrs


def test_json_documents_are_judged_key_by_key(span_capture: SpanCapture) -> None:
    doc = '{"by_customer": {"ahmed@example.com": 3}, "cvv": 123, "order": "ORD-2024-000123"}'
    with span("s", payload=doc):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert json.loads(str(attrs["payload"])) == {
        "by_customer": {"[REDACTED:email]": 3},
        "cvv": "[REDACTED:cvv]",
        "order": "ORD-2024-000123",
    }


def test_emirates_ids_are_found_by_their_shape(span_capture: SpanCapture) -> None:
    # 784-1985-1234567-? with the Luhn check digit computed for it
    body = "78419851234567"
    check = next(str(c) for c in range(10) if luhn_valid(body + str(c)))
    with span("s", note=f"الهوية 784-1985-1234567-{check} مسجلة", other="784-1985-1234567-0"):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["note"] == "الهوية [REDACTED:national_id] مسجلة"
    if check != "0":
        assert attrs["other"] == "784-1985-1234567-0"  # a wrong check digit is not an id


def test_booleans_and_counts_under_sensitive_keys_stay(span_capture: SpanCapture) -> None:
    with span("s", is_mobile=True, email_verified=False, email_count=3, cvv=123):
        pass
    attrs = span_capture.one("s").attributes or {}
    assert attrs["is_mobile"] is True
    assert attrs["email_verified"] is False
    assert attrs["email_count"] == 3
    assert attrs["cvv"] == "[REDACTED:cvv]"


def test_a_url_inside_a_query_parameter_loses_its_credentials(span_capture: SpanCapture) -> None:
    query = "page=2&next=https%3A%2F%2Fmerchant%3As3cret-pass%40pay.example%2Fcb"
    with span("s", **{"url.query": query}):
        pass
    got = str((span_capture.one("s").attributes or {})["url.query"])
    assert got == "page=2&next=https://[REDACTED:userinfo]@pay.example/cb"


def _ended(attributes: BoundedAttributes, events: BoundedList[Event] | None = None) -> ReadableSpan:
    context = SpanContext(1, 2, is_remote=False)
    return ReadableSpan("s", context, attributes=attributes, events=events or ())


def test_the_copy_keeps_the_dropped_counts_and_the_figures_count_every_span() -> None:
    stage = ScrubStage(SpanProcessor(), build_scrubber(ScrubbingConfig(enabled=True)))
    over = {"dropped": "the oldest goes", "note": "a@b.co", "extra": "x"}
    dropped = BoundedAttributes(maxlen=2, attributes=over)
    events: BoundedList[Event] = BoundedList(1)
    events.extend([Event("a"), Event("b")])
    limited = stage.scrub(_ended(dropped, events))
    assert (limited.dropped_attributes, limited.dropped_events, limited.dropped_links) == (1, 1, 0)
    plain = stage.scrub(_ended(BoundedAttributes(attributes={"email": "a@b.co"})))
    assert (plain.attributes or {})["email"] == "[REDACTED:email]"
    assert (plain.dropped_attributes, plain.dropped_events, plain.dropped_links) == (0, 0, 0)
    for _ in range(300):  # past the batch in which reports wait to be counted
        stage.scrub(_ended(BoundedAttributes(attributes={"token": "t0k3n-abc"})))
    assert stage.figures() == {
        "spans_scrubbed": 302,
        "redactions": {"email": 2, "token": 300},
    }
