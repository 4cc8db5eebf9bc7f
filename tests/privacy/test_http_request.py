"""A real request through a FastAPI app traced by the library, served by uvicorn, exported
over OTLP/HTTP: captured headers, the query string, the path and the error the handler
raises arrive scrubbed."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from saler_tracing import ExportOptions, configure, force_flush, instrument_fastapi
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve

EMAIL = "layla.hassan77@example.com.sa"
CARD = "5500 0000 0000 0004"
PHONE = "+966 55 123 4567"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXZhbHVlLTEyMzQ1Ng"
COOKIE = "sid=9f8e7d6c5b4a39281706; theme=dark"


def test_a_real_request_arrives_scrubbed() -> None:
    with OtlpHttpReceiver() as rx:
        configure(
            service_name="shop",
            export=ExportOptions(traces_endpoint=rx.endpoint, schedule_delay_ms=50),
            environ={},
        )
        app = FastAPI()

        @app.get("/customers/{contact}")
        async def customer(contact: str) -> dict[str, str]:
            raise RuntimeError(f"no customer {contact}, card {CARD}")

        instrument_fastapi(
            app,
            capture_request_headers=["authorization", "cookie", "x-customer-phone", "referer"],
        )
        with serve(app) as url:
            response = httpx.get(
                f"{url}/customers/{EMAIL}",
                params={"token": "tok-8c7b6a5d4e3f", "phone": PHONE, "page": "2"},
                headers={
                    "authorization": f"Bearer {JWT}",
                    "cookie": COOKIE,
                    "x-customer-phone": PHONE,
                    "referer": f"https://shop.example.com/p?email={EMAIL}",
                },
            )
            assert response.status_code == 500
            assert force_flush(10)
            spans = rx.store.wait_for(1)
        assert spans, "the OTLP receiver got no span"
        wire = b"".join(rx.store.raw)
    for secret in (
        EMAIL,
        "layla.hassan77",
        CARD,
        "0000 0004",
        JWT,
        "9f8e7d6c5b4a39281706",
        "tok-8c7b6a5d4e3f",
        "55 123 4567",
        "123 4567",
        "%2B966",
    ):
        assert secret.encode() not in wire, secret
    server = next(s for s in spans if s.span.kind == s.span.SPAN_KIND_SERVER)
    attrs = server.attributes
    assert server.name == "GET /customers/{contact}"
    assert attrs["http.route"] == "/customers/{contact}"
    assert attrs["http.request.header.authorization"] == ["[REDACTED:authorization]"]
    assert attrs["http.request.header.cookie"] == ["[REDACTED:cookie]"]
    assert attrs["http.request.header.x-customer-phone"] == ["[REDACTED:phone]"]
    assert "page=2" in attrs["url.query"]
    assert "token=[REDACTED:token]" in attrs["url.query"]
    assert "http.request.header.cookie:cookie" in attrs["saler.scrubbed"]
