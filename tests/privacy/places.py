"""Put one corpus value into every place a span can carry it, as applications really do."""

from __future__ import annotations

import json
from urllib.parse import quote

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tests.privacy.corpus import Secret

# rule → (attribute key, header/param/column name) for values only their name gives away
KEYED_NAMES = {
    "password": ("user.password", "password"),
    "secret": ("webhook.secret", "client_secret"),
    "national_id": ("customer.national_id", "national_id"),
    "cvv": ("payment.cvv", "cvv"),
    "session": ("session_id", "session_id"),
    "cookie": ("http.request.header.cookie", "cookie"),
    "csrf": ("http.request.header.x-csrf-token", "csrf_token"),
    "otp": ("login.otp", "otp"),
    "pin": ("card.pin", "pin"),
    "api_key": ("http.request.header.x-api-key", "api_key"),
    "token": ("oauth.access_token", "access_token"),
    "ssn": ("applicant.ssn", "ssn"),
}
ARABIC_LABELS = {
    "password": "كلمة المرور",
    "otp": "رمز التحقق",
    "pin": "الرقم السري",
    "national_id": "رقم الهوية",
}


def emit_by_value(tracer: trace.Tracer, index: int, secret: Secret) -> None:
    v = secret.value
    q = quote(v, safe="")
    attrs = {
        "corpus.index": index,
        "customer.note": f"العميل {v} طلب التوصيل مساءً",
        "note.en": f"Customer contact: {v}, call after 5pm",
        "payload": json.dumps(
            {"customer": {"contact": v, "order": "ORD-2024-000123"}}, ensure_ascii=False
        ),
        "wrapper": json.dumps({"body": json.dumps({"nested": [v]})}),
        "url.full": f"https://api.example.com/v1/lookup?q={q}&page=2",
        "url.query": f"contact={q}&lang=ar",
        "url.path": f"/customers/{v}/orders",
        "http.request.header.x-customer-contact": [v],
        "http.request.header.referer": [f"https://shop.example.com/checkout?c={q}"],
        "db.query.text": f"SELECT id FROM customers WHERE contact = '{v}' LIMIT 1",
        "db.query.parameter.0": v,
        "db.statement": f"SET customer:{index}:contact {v}",
        "baggage.customer.contact": v,
        "tags": ["vip", v],
    }
    _emit(
        tracer,
        f"GET /customers/{v}/orders",
        attrs,
        {"message": f"تم الدفع من {v}"},
        f"payment failed for {v}",
        f"declined: {v}",
    )


def emit_by_key(tracer: trace.Tracer, index: int, secret: Secret) -> None:
    rule = secret.category.split(":", 1)[1]
    key, name = KEYED_NAMES[rule]
    v = secret.value
    q = quote(v, safe="")
    attrs: dict[str, object] = {
        "corpus.index": index,
        key: v,
        f"baggage.{name}": v,
        f"db.query.parameter.{name}": v,
        "payload": json.dumps({"form": {name: v, "remember": True}}, ensure_ascii=False),
        "url.full": f"https://merchant:{q}@api.example.com/login?{name}={q}&page=2",
        "url.query": f"{name}={q}&lang=ar",
        "http.request.header.baggage": [f"{name}={q},lang=ar"],
        "db.query.text": f"INSERT INTO customers (full_name_ar, {name}) VALUES ('أحمد', '{v}')",
        "db.statement": f"UPDATE customers SET {name} = '{v}' WHERE id = 42",
        "log.line": f'rejected request {{"{name}": "{v}", "attempt": 3}}',
    }
    if rule == "password":
        attrs["db.redis.command"] = f"AUTH default {v}"
    message = f"validation failed: {name}='{v}'"
    if rule in ARABIC_LABELS and " " not in v:
        attrs["note.ar"] = f"{ARABIC_LABELS[rule]}: {v}"
    _emit(tracer, "POST /login", attrs, {name: v}, message, f"declined: {name}='{v}'")


def _emit(
    tracer: trace.Tracer,
    name: str,
    attrs: dict[str, object],
    event_attrs: dict[str, str],
    exception_text: str,
    status_text: str,
) -> None:
    with tracer.start_as_current_span(name, attributes=attrs, record_exception=False) as span:  # type: ignore[arg-type]
        span.add_event("checkout.note", event_attrs)
        try:
            raise ValueError(exception_text)
        except ValueError as exc:
            span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, status_text))
