"""PyJWT spans: ``token.issue`` and ``token.verify``, with the algorithm, the key id and the
outcome; never the token, its claims or the key.

``jwt.decode`` is a method bound at import to a module-level ``PyJWT`` object and calls
``self.decode_complete``: patching the class method covers it and every ``PyJWT()`` of the
application. ``jwt.encode`` and ``jwt.decode_complete`` are bound too but call nothing we can
see, so those module names are patched as well (code that imported them by name before
``instrument_auth()`` keeps the originals).

A rejected token is an auth event (``token_verify``/``failure``/outcome); one rejected for its
signature, audience or algorithm is also ``security.token_tampering``: an expired token is
routine, a forged one is not.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.auth import events
from saler_tracing._internal.instrument.kit import Patches, suppressed

_inside = contextvars.ContextVar("saler_tracing_token_span", default=False)
TAMPERING = frozenset({"bad_signature", "bad_audience", "bad_algorithm"})


def outcome_of(jwt: Any, exc: BaseException) -> str:
    # Most specific first: InvalidSignatureError is a DecodeError.
    for name, outcome in (
        ("InvalidSignatureError", "bad_signature"),
        ("ExpiredSignatureError", "expired"),
        ("InvalidAudienceError", "bad_audience"),
        ("InvalidAlgorithmError", "bad_algorithm"),
        ("DecodeError", "malformed"),
    ):
        if isinstance(exc, getattr(jwt, name)):
            return outcome
    return "invalid"


def _header(jwt: Any, token: object) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except Exception:  # a malformed token has no readable header: nothing to record
        return {}
    return header if isinstance(header, dict) else {}


def _set_header(span: Span, header: dict[str, Any], algorithm: object = None) -> None:
    alg = header.get("alg", algorithm)
    if isinstance(alg, str):
        span.set_attribute("auth.token.algorithm", alg[:16])
    kid = header.get("kid")
    if isinstance(kid, str):
        span.set_attribute("auth.token.kid", kid[:64])


def _start(name: str) -> Span | None:
    if suppressed() or _inside.get():
        return None
    with guard("auth token span start"):
        return events.tracer().start_span(name)
    return None


def _encode(jwt: Any, offset: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            span = _start("token.issue")
            reset = _inside.set(True)
            try:
                token = original(*args, **kwargs)
            except Exception:
                if span is not None:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
                raise
            finally:
                _inside.reset(reset)
                if span is not None:
                    with guard("auth token issue"):
                        headers = kwargs.get("headers") or {}
                        algorithm = kwargs.get("algorithm")
                        if algorithm is None and len(args) > offset + 2:
                            algorithm = args[offset + 2]
                        algorithm = algorithm if isinstance(algorithm, str) else "HS256"
                        _set_header(span, dict(headers), algorithm)
                        span.end()
                        events.count("token_issue", "success", "none")
            return token

        return traced

    return wrap


def _decode(jwt: Any, offset: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            active = not (suppressed() or _inside.get())
            span = _start("token.verify") if active and events.state().token_spans else None
            # token_spans=False: the outcome goes on the caller's span (the request's); a
            # verification on every request then costs attributes, not a span.
            target = span if span is not None or not active else trace.get_current_span()
            reset = _inside.set(True)
            try:
                decoded = original(*args, **kwargs)
            except Exception as exc:
                if target is not None:
                    token = args[offset] if len(args) > offset else kwargs.get("jwt")
                    _rejected(jwt, target, token, exc)
                raise
            else:
                if target is not None:
                    _accepted(target, decoded)
                return decoded
            finally:
                _inside.reset(reset)
                if span is not None:
                    with guard("auth token verify end"):
                        span.end()

        return traced

    return wrap


def _accepted(span: Span, decoded: object) -> None:
    with guard("auth token verify"):
        header = decoded.get("header") if isinstance(decoded, dict) else None
        _set_header(span, header if isinstance(header, dict) else {})
        span.set_attribute("auth.token.outcome", "valid")
        events.count("token_verify", "success", "valid")


def _rejected(jwt: Any, span: Span, token: object, exc: BaseException) -> None:
    with guard("auth token rejected"):
        outcome = outcome_of(jwt, exc)
        _set_header(span, _header(jwt, token))
        span.set_attribute("auth.token.outcome", outcome)
        events.count("token_verify", "failure", outcome)
        if outcome in TAMPERING:
            events.security_event("token_tampering", span, reason=outcome)


def patch_jwt(patches: Patches, jwt: Any) -> None:
    api_jwt = jwt.api_jwt
    patches.patch(api_jwt.PyJWT, "encode", _encode(jwt, 1))
    patches.patch(api_jwt.PyJWT, "decode_complete", _decode(jwt, 1))
    for module in (jwt, api_jwt):
        patches.patch(module, "encode", _encode(jwt, 0))
        patches.patch(module, "decode_complete", _decode(jwt, 0))
