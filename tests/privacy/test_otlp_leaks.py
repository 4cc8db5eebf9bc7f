"""The corpus through every place a span carries data, exported over real OTLP/HTTP to a
real receiver: nothing sensitive arrives, every look-alike arrives intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from opentelemetry import trace

from saler_tracing import ExportOptions, configure, force_flush
from tests.helpers.receiver import OtlpHttpReceiver, ReceivedSpan, any_value
from tests.privacy import corpus
from tests.privacy.places import emit_by_key, emit_by_value


@pytest.fixture
def receiver() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as rx:
        configure(
            service_name="privacy-test",
            export=ExportOptions(traces_endpoint=rx.endpoint, schedule_delay_ms=50),
            environ={},
        )
        yield rx


def strings_of(span: ReceivedSpan) -> list[str]:
    """Every string the receiver decoded from one span."""
    out = [span.name, span.span.status.message]

    def add(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            for item in value:
                add(item)

    for value in span.attributes.values():
        add(value)
    for event in span.span.events:
        out.append(event.name)
        for kv in event.attributes:
            add(any_value(kv.value))
    return out


def _received(rx: OtlpHttpReceiver, count: int) -> list[ReceivedSpan]:
    assert force_flush(10)
    spans = rx.store.wait_for(count, timeout=20)
    assert len(spans) == count, f"the OTLP receiver got {len(spans)} of {count} spans"
    return spans


def test_corpus_is_large_and_covers_every_category() -> None:
    secrets = corpus.sensitive()
    assert len(secrets) >= 200
    categories = {s.category.split(":")[0] for s in secrets}
    assert {"card", "iban", "phone", "email", "jwt", "bearer", "basic", "cloud", "keyed"} <= (
        categories
    )


def test_no_sensitive_value_reaches_the_wire(receiver: OtlpHttpReceiver) -> None:
    tracer = trace.get_tracer("privacy-test")
    secrets = corpus.sensitive()
    for index, secret in enumerate(secrets):
        (emit_by_value if secret.by_value else emit_by_key)(tracer, index, secret)
    spans = _received(receiver, len(secrets))
    wire = b"".join(receiver.store.raw)
    by_index = {span.attributes["corpus.index"]: span for span in spans}
    leaks = []
    for index, secret in enumerate(secrets):
        texts = "\n".join(strings_of(by_index[index]))
        # The forms the value took in URLs and baggage count as the value.
        encoded = {quote(secret.value, safe=""), quote_plus(secret.value)} - {secret.value}
        for fragment in (*secret.all_fragments(), *encoded):
            # Long fragments are searched in the raw bytes; short ones (a CVV) could occur by
            # chance in binary ids, so they are searched in every decoded string instead.
            found = fragment.encode() in wire if len(fragment) >= 6 else fragment in texts
            if found or (len(fragment) >= 6 and fragment in texts):
                leaks.append((secret.category, secret.value, fragment))
    assert leaks == []
    # The span says what was removed, by key and rule, and never the value.
    first = by_index[0]
    report = first.attributes["saler.scrubbed"]
    assert "url.query:card_number" in report
    assert "span.name:card_number" in report
    assert "exception.message:card_number" in report


def test_look_alikes_survive_intact(receiver: OtlpHttpReceiver) -> None:
    tracer = trace.get_tracer("privacy-test")
    for index, value in enumerate(corpus.LOOK_ALIKES):
        attrs = {
            "corpus.index": index,
            "value": value,
            "note.ar": f"ملاحظة: {value}",
            "payload": json.dumps({"order": {"ref": value}}, ensure_ascii=False),
            "db.query.text": f"SELECT * FROM orders WHERE ref = '{value}'",
            "url.query": f"ref={value}&lang=ar",
        }
        with tracer.start_as_current_span(f"order {value}", attributes=attrs) as span:
            span.add_event("note", {"text": f"ref {value}"})
            try:
                raise LookupError(f"no order {value}")
            except LookupError as exc:
                span.record_exception(exc)
    spans = _received(receiver, len(corpus.LOOK_ALIKES))
    for span in spans:
        attrs = span.attributes
        value = corpus.LOOK_ALIKES[attrs["corpus.index"]]
        assert "saler.scrubbed" not in attrs, (value, attrs["saler.scrubbed"])
        assert attrs["value"] == value
        assert span.name == f"order {value}"
        assert json.loads(attrs["payload"]) == {"order": {"ref": value}}
        assert attrs["db.query.text"].endswith(f"'{value}'")
        assert any(value in text for text in strings_of(span) if text.startswith("no order"))
