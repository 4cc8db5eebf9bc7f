"""Sign-in end to end: a real FastAPI app (OAuth2 password flow, pwdlib, PyJWT) under
uvicorn on loopback, exported over OTLP/HTTP to a real receiver. Every span and event the
auth integration promises arrives, and no password, token, e-mail or secret is in any byte."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client import CollectorRegistry

from saler_tracing import (
    ExportOptions,
    configure,
    force_flush,
    instrument_auth,
    shutdown,
    uninstrument_auth,
)
from tests.auth.app import API_KEY, AUDIENCE, JWT_SECRET, PASSWORDS, build_app
from tests.helpers.receiver import OtlpHttpReceiver, ReceivedSpan, any_value
from tests.helpers.servers import serve

HMAC_KEY = "pseudonym-key-of-the-test-0123456789"


@pytest.fixture
def traced(metrics_registry: CollectorRegistry) -> Iterator[tuple[str, OtlpHttpReceiver]]:
    with OtlpHttpReceiver() as rx:
        configure(
            service_name="auth-test",
            export=ExportOptions(traces_endpoint=rx.endpoint, schedule_delay_ms=50),
            environ={},
        )
        instrument_auth(hmac_key=HMAC_KEY, account_failures=3, address_accounts=2)
        try:
            with serve(build_app()) as url:
                yield url, rx
        finally:
            uninstrument_auth()
            shutdown(timeout_s=5)


@pytest.fixture
def clients() -> Iterator[Any]:
    opened: list[httpx.Client] = []

    def make(url: str) -> httpx.Client:
        opened.append(httpx.Client(base_url=url))
        return opened[-1]

    yield make
    for client in opened:
        client.close()


def events_of(span: ReceivedSpan) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.name, {kv.key: any_value(kv.value) for kv in e.attributes}) for e in span.span.events
    ]


def spans_after_flush(rx: OtlpHttpReceiver, name: str, count: int) -> list[ReceivedSpan]:
    assert force_flush(10)
    deadline_spans = rx.store.wait_for(1, timeout=10)
    del deadline_spans
    found = [s for s in rx.store.spans if s.name == name]
    assert len(found) >= count, f"{name}: {len(found)} of {count}"
    return found


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_sign_in_flow_traced_end_to_end_without_secrets(
    traced: tuple[str, OtlpHttpReceiver], metrics_registry: CollectorRegistry, clients: Any
) -> None:
    url, rx = traced
    client = clients(url)
    user, password = "ahmed@example.com", PASSWORDS["ahmed@example.com"]
    tokens = client.post("/token", data={"username": user, "password": password}).json()
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert client.get("/me", headers={"Authorization": f"Bearer {access}"}).json() == {"user": user}
    assert client.get("/me").status_code == 401  # no credential
    new_access = client.post("/refresh", json={"refresh_token": refresh}).json()["access_token"]
    assert client.post("/logout", json={"refresh_token": refresh}).status_code == 200
    # Tampering: the payload changed under the original signature; a foreign audience.
    head, _body, signature = access.split(".")
    forged_body = jwt.utils.base64url_encode(b'{"sub":"admin","aud":"shop-api","typ":"access"}')
    forged = f"{head}.{forged_body.decode()}.{signature}"
    assert client.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    other = jwt.encode({"sub": user, "aud": "elsewhere", "typ": "access"}, JWT_SECRET)
    assert client.get("/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert client.get("/me", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    assert client.get("/admin", headers={"X-API-Key": "wrong-key-value-123"}).status_code == 403
    assert client.get("/admin", headers={"X-API-Key": API_KEY}).json() == {"ok": True}

    login = next(
        s
        for s in spans_after_flush(rx, "POST /token", 1)
        if any(name == "auth.login" for name, _ in events_of(s))
    )
    attrs = next(a for n, a in events_of(login) if n == "auth.login")
    assert attrs["auth.outcome"] == "success"
    assert attrs["enduser.id"].startswith("[HMAC:") and user not in attrs["enduser.id"]
    assert login.attributes["saler.critical"] == "auth"
    children = [s for s in rx.store.spans if s.parent_span_id == login.span_id]
    verify = next(s for s in children if s.name == "password.verify")
    assert verify.attributes["auth.hashing.library"] == "pwdlib"
    assert verify.attributes["auth.hashing.scheme"] == "argon2id"
    assert verify.attributes["auth.hashing.cost"] == "m=8192,t=1,p=4"
    assert verify.attributes["auth.hashing.match"] is True
    issues = [s for s in children if s.name == "token.issue"]
    assert len(issues) == 2
    assert issues[0].attributes["auth.token.algorithm"] == "HS256"
    assert issues[0].attributes["auth.token.kid"] == "k1"
    outcomes = sorted(
        s.attributes["auth.token.outcome"] for s in rx.store.spans if s.name == "token.verify"
    )
    assert outcomes == sorted(
        ["valid", "valid", "valid", "bad_signature", "bad_audience", "malformed"]
    )
    tampered = [
        s for s in rx.store.spans if any(n == "security.token_tampering" for n, _ in events_of(s))
    ]
    assert len(tampered) == 2
    me_missing = [
        s
        for s in rx.store.spans
        if s.name == "GET /me" and s.attributes.get("auth.presence") == "missing"
    ]
    assert len(me_missing) == 1, [s.attributes for s in rx.store.spans if s.name == "GET /me"]

    # Figures, exactly.
    events = "saler_tracing_auth_events_total"
    assert sample(metrics_registry, events, event="login", outcome="success", reason="none") == 1
    assert sample(metrics_registry, events, event="refresh", outcome="success", reason="none") == 1
    assert sample(metrics_registry, events, event="logout", outcome="success", reason="none") == 1
    assert (
        sample(
            metrics_registry,
            events,
            event="token_verify",
            outcome="failure",
            reason="bad_signature",
        )
        == 1
    )
    assert (
        sample(
            metrics_registry,
            events,
            event="credential",
            outcome="failure",
            reason="missing",
        )
        == 1
    )
    # Every outcome but success is a failure to the alert rules: a credential presented is one.
    assert (
        sample(metrics_registry, events, event="credential", outcome="success", reason="present")
        == 6
    )
    assert (
        sample(
            metrics_registry,
            events,
            event="permission_denied",
            outcome="failure",
            reason="no_api_key",
        )
        == 1
    )
    security = "saler_tracing_security_events_total"
    assert sample(metrics_registry, security, kind="token_tampering") == 2
    assert sample(metrics_registry, "saler_tracing_sessions_started_total") == 1
    assert sample(metrics_registry, "saler_tracing_sessions_active") == 0
    assert sample(metrics_registry, "saler_tracing_session_duration_seconds_count") == 1

    # Nothing secret in any exported byte.
    wire = b"".join(rx.store.raw)
    for secret in (
        password,
        user,
        "ahmed",
        access,
        refresh,
        new_access,
        forged,
        signature,
        JWT_SECRET,
        HMAC_KEY,
        API_KEY,
        "wrong-key-value-123",
        AUDIENCE + '"',
    ):
        assert secret.encode() not in wire, f"{secret[:12]}… reached the receiver"
    assert b"$argon2" not in wire and b"$2b$" not in wire  # no hash either


def test_brute_force_and_credential_stuffing_become_security_events(
    traced: tuple[str, OtlpHttpReceiver], metrics_registry: CollectorRegistry, clients: Any
) -> None:
    url, rx = traced
    client = clients(url)
    for _ in range(4):  # threshold 3 for one account: one event, not one per failure
        bad = client.post("/token", data={"username": "lina@example.com", "password": "guess"})
        assert bad.status_code == 401
    # A second account from the same address: 2 distinct accounts is credential stuffing here.
    client.post("/token", data={"username": "someone@example.com", "password": "x"})
    security = "saler_tracing_security_events_total"
    assert sample(metrics_registry, security, kind="brute_force") == 1
    assert sample(metrics_registry, security, kind="credential_stuffing") == 1
    assert (
        sample(
            metrics_registry,
            "saler_tracing_auth_events_total",
            event="login",
            outcome="failure",
            reason="bad_password",
        )
        == 5
    )
    spans_after_flush(rx, "POST /token", 5)
    kinds = [n for s in rx.store.spans for n, _ in events_of(s) if n.startswith("security.")]
    assert sorted(kinds) == ["security.brute_force", "security.credential_stuffing"]
    verify = [s for s in rx.store.spans if s.name == "password.verify"]
    assert {s.attributes["auth.hashing.scheme"] for s in verify} == {"bcrypt"}
    assert {s.attributes["auth.hashing.cost"] for s in verify} == {"04"}
    assert {s.attributes["auth.hashing.match"] for s in verify} == {False}
    wire = b"".join(rx.store.raw)
    assert b"lina@example.com" not in wire and b"someone@example.com" not in wire
    assert b"guess" not in wire
