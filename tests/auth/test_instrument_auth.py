"""instrument_auth() library by library: the spans each one makes, what they never carry,
idempotence, the missing-extra error, and a hook bug that never reaches the application."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

import argon2
import bcrypt
import jwt
import pytest
from prometheus_client import CollectorRegistry
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

import saler_tracing
from saler_tracing import MissingExtraError, ScrubbingOptions, instrument_auth, uninstrument_auth
from saler_tracing._internal import errors
from saler_tracing._internal.instrument.auth import events, hashing
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer
from saler_tracing.testing import SpanCapture

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # passlib imports the stdlib ``crypt``
    from passlib.context import CryptContext

KEY = "a-pseudonym-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    uninstrument_auth()


def test_describe_reads_scheme_and_cost_never_the_hash() -> None:
    assert hashing.describe("$2b$12$" + "a" * 53) == ("bcrypt", "12")
    assert hashing.describe("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA") == (
        "argon2id",
        "m=65536,t=3,p=4",
    )
    assert hashing.describe("$pbkdf2-sha256$29000$c2FsdA$aGFzaA") == ("pbkdf2-sha256", "29000")
    assert hashing.describe("$6$rounds=5000$salt$hash") == ("6", "5000")
    assert hashing.describe("plain text, not a hash") == ("unknown", None)


def test_pwdlib_one_span_per_call_not_one_per_layer(span_capture: SpanCapture) -> None:
    assert "pwdlib" in instrument_auth(hmac_key=KEY)
    hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192), BcryptHasher(rounds=4)))
    stored = hasher.hash("hunter2-password")
    assert hasher.verify("hunter2-password", stored) is True
    assert hasher.verify("wrong", stored) is False
    valid, updated = hasher.verify_and_update("hunter2-password", stored)
    assert valid is True and updated is None
    spans = span_capture.spans()
    # pwdlib calls argon2-cffi, which is instrumented too: still one span per pwdlib call.
    assert [s.name for s in spans] == ["password.hash", *["password.verify"] * 3]
    assert {s.attributes["auth.hashing.library"] for s in spans} == {"pwdlib"}
    assert [s.attributes.get("auth.hashing.match") for s in spans] == [None, True, False, True]
    assert spans[3].attributes["auth.hashing.rehashed"] is False
    for span in spans:
        assert span.attributes["auth.hashing.scheme"] == "argon2id"
        assert span.status.is_ok  # a mismatch is an answer, not an error
        assert stored not in str(span.attributes) and "hunter2" not in str(span.attributes)


def test_bcrypt_argon2_and_passlib_directly(span_capture: SpanCapture) -> None:
    instrument_auth(hmac_key=KEY)
    salt = bcrypt.gensalt(4)
    stored = bcrypt.hashpw(b"pw", salt)
    assert bcrypt.checkpw(b"pw", stored)
    ph = argon2.PasswordHasher(time_cost=1, memory_cost=8192)
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        ph.verify(ph.hash("pw"), "nope")
    context = CryptContext(schemes=["pbkdf2_sha256"], pbkdf2_sha256__rounds=1000)
    assert context.verify("pw", context.hash("pw"))
    got = [
        (s.name, s.attributes["auth.hashing.library"], s.attributes["auth.hashing.scheme"])
        for s in span_capture.spans()
    ]
    assert got == [
        ("password.hash", "bcrypt", "bcrypt"),
        ("password.verify", "bcrypt", "bcrypt"),
        ("password.hash", "argon2-cffi", "argon2id"),
        ("password.verify", "argon2-cffi", "argon2id"),
        ("password.hash", "passlib", "pbkdf2-sha256"),
        ("password.verify", "passlib", "pbkdf2-sha256"),
    ]
    mismatch = span_capture.spans()[3]
    assert mismatch.attributes["auth.hashing.match"] is False and mismatch.status.is_ok
    assert span_capture.spans()[4].attributes["auth.hashing.cost"] == "1000"


def test_jwt_outcomes(span_capture: SpanCapture, metrics_registry: CollectorRegistry) -> None:
    instrument_auth(hmac_key=KEY)
    key = "signing-key-of-at-least-32-bytes-long!"
    token = jwt.encode({"sub": "u", "aud": "a"}, key, algorithm="HS256", headers={"kid": "k9"})
    expired = jwt.encode({"sub": "u", "exp": 1}, key, algorithm="HS256")
    api = jwt.PyJWT()  # an application's own instance is covered too
    assert api.decode(token, key, algorithms=["HS256"], audience="a")["sub"] == "u"
    cases = [
        (token, "a", "wrong-key-but-long-enough-for-hmac-sha", "bad_signature"),
        (token, "b", key, "bad_audience"),
        (expired, None, key, "expired"),
        ("garbage", None, key, "malformed"),
    ]
    for text, audience, used, _ in cases:
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(text, used, algorithms=["HS256"], audience=audience)
    verify = [s for s in span_capture.spans() if s.name == "token.verify"]
    assert [s.attributes["auth.token.outcome"] for s in verify] == [
        "valid",
        *(c[3] for c in cases),
    ]
    assert verify[0].attributes["auth.token.kid"] == "k9"
    assert verify[0].attributes["auth.token.algorithm"] == "HS256"
    issue = [s for s in span_capture.spans() if s.name == "token.issue"]
    assert len(issue) == 2 and issue[0].attributes["auth.token.kid"] == "k9"
    assert [e.name for e in verify[1].events] == ["security.token_tampering"]
    assert (
        metrics_registry.get_sample_value(
            "saler_tracing_security_events_total", {"kind": "token_tampering"}
        )
        == 2
    )
    for span in span_capture.spans():
        assert token not in str(span.attributes) and key not in str(span.attributes)


def test_lean_token_checks_go_on_the_current_span(
    span_capture: SpanCapture, metrics_registry: CollectorRegistry
) -> None:
    instrument_auth(hmac_key=KEY, token_spans=False)
    key = "signing-key-of-at-least-32-bytes-long!"
    token = jwt.encode({"sub": "u"}, key, algorithm="HS256")
    with saler_tracing.span("request") as outer:
        jwt.decode(token, key, algorithms=["HS256"])
        assert outer.attributes["auth.token.outcome"] == "valid"
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, "another-key-of-at-least-32-bytes-long", algorithms=["HS256"])
    assert [s.name for s in span_capture.spans()] == ["token.issue", "request"]
    (request,) = span_capture.named("request")
    assert request.attributes["auth.token.outcome"] == "bad_signature"
    assert [e.name for e in request.events] == ["security.token_tampering"]
    assert (
        metrics_registry.get_sample_value(
            "saler_tracing_auth_events_total",
            {"event": "token_verify", "outcome": "success", "reason": "valid"},
        )
        == 1
    )


def test_auth_event_pseudonymises_and_works_outside_a_span(span_capture: SpanCapture) -> None:
    instrument_auth(hmac_key=KEY)
    saler_tracing.auth_event("mfa_verify", outcome="failure", reason="bad_code", user="Ahmed@X.io")
    saler_tracing.auth_event("password_reset", user="ahmed@x.io ")
    first, second = span_capture.spans()
    assert first.name == "auth mfa_verify" and second.name == "auth password_reset"
    # Same user, same token (normalised), and never the address itself.
    assert first.attributes["enduser.id"] == second.attributes["enduser.id"]
    assert first.attributes["enduser.id"].startswith("[HMAC:")
    assert "ahmed" not in str(first.attributes).lower()
    assert first.events[0].attributes["auth.reason"] == "bad_code"


def test_without_a_key_no_enduser_id_at_all(
    span_capture: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SALER_TRACING_SCRUB_HMAC_KEY", raising=False)
    monkeypatch.delenv("SALER_TRACING_AUTH_HMAC_KEY", raising=False)
    instrument_auth()
    saler_tracing.auth_event("login", user="ahmed@example.com")
    (span,) = span_capture.spans()
    assert "enduser.id" not in span.attributes
    assert "ahmed" not in str(span.events[0].attributes)


@pytest.mark.saler_tracing(scrubbing=ScrubbingOptions(hmac_key="configure-key-0123456789"))
def test_the_key_given_to_configure_keys_the_pseudonyms(
    span_capture: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key set only through ``configure()`` reaches the auth events (instrumented before or
    after), and gives the scrubber's own token for the same user."""
    monkeypatch.delenv("SALER_TRACING_SCRUB_HMAC_KEY", raising=False)
    monkeypatch.delenv("SALER_TRACING_AUTH_HMAC_KEY", raising=False)
    instrument_auth()
    saler_tracing.auth_event("login", user="Ahmed@Example.com")
    (span,) = span_capture.spans()
    expected = Pseudonymizer(b"configure-key-0123456789").token("ahmed@example.com")
    assert span.attributes["enduser.id"] == expected
    assert "ahmed" not in str(span.attributes).lower()


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        instrument_auth(hmac_key="short")


def test_idempotent_and_undone() -> None:
    original = PasswordHash.verify, bcrypt.checkpw, jwt.encode, jwt.api_jwt.PyJWT.decode_complete
    assert instrument_auth(hmac_key=KEY)
    assert instrument_auth(hmac_key=KEY) == []
    assert PasswordHash.verify is not original[0]
    uninstrument_auth()
    uninstrument_auth()
    assert (
        PasswordHash.verify,
        bcrypt.checkpw,
        jwt.encode,
        jwt.api_jwt.PyJWT.decode_complete,
    ) == original


def test_missing_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)
    with pytest.raises(MissingExtraError, match=r"saler-tracing\[auth\]"):
        instrument_auth(libraries=["jwt"])
    # Not named: skipped, the others are instrumented.
    assert "jwt" not in instrument_auth(hmac_key=KEY)


def test_a_bug_in_a_hook_never_reaches_the_application(
    span_capture: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("bug in tracing")

    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    monkeypatch.setattr(hashing, "describe", broken)
    monkeypatch.setattr(events, "_record", broken)
    instrument_auth(hmac_key=KEY)
    hasher = PasswordHash((BcryptHasher(rounds=4),))
    assert hasher.verify("pw", hasher.hash("pw")) is True
    saler_tracing.auth_event("login")
    assert errors.internal_error_counts() == {
        "auth password attributes": 2,
        "auth_event": 1,
    }
    errors.reset_internal_errors()
