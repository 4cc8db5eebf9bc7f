"""Password hashing and verification spans: pwdlib, passlib, bcrypt, argon2-cffi.

Hashing is, by design, the slowest step of a sign-in (tens to hundreds of milliseconds), and
no instrumentation shows it. One span per call, ``password.hash`` or ``password.verify``, with
the scheme and the cost read from the hash string itself (``$2b$12$…``,
``$argon2id$v=19$m=65536,t=3,p=4$…``) and, for a verification, whether it matched. Never the
password, the salt or the hash.

The libraries call one another (pwdlib → bcrypt / argon2-cffi; passlib → bcrypt): only the
outermost call makes a span, so a pwdlib verification is one span, not two.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.auth import events
from saler_tracing._internal.instrument.kit import Patches, error_type, suppressed

_inside = contextvars.ContextVar("saler_tracing_password_span", default=False)


def describe(hashed: object) -> tuple[str, str | None]:
    """``(scheme, cost)`` of a modular-crypt hash; ``("unknown", None)`` otherwise."""
    text = hashed.decode("ascii", "replace") if isinstance(hashed, bytes) else str(hashed)
    parts = text.split("$")
    if len(parts) < 3 or parts[0]:
        return "unknown", None
    ident = parts[1]
    if ident in ("2a", "2b", "2y"):
        return "bcrypt", parts[2] if parts[2].isdigit() else None
    if ident.startswith("argon2"):
        cost = next((p for p in parts[2:] if p.startswith("m=")), None)
        return ident, cost
    for part in parts[2:4]:  # pbkdf2 (``$pbkdf2-sha256$29000$``), sha-crypt (``rounds=``)
        if part.isdigit() or part.startswith("rounds="):
            return ident[:32], part.removeprefix("rounds=")
    return ident[:32], None


@contextmanager
def _span(name: str, library: str) -> Iterator[Span | None]:
    """The password span, or ``None`` when nested in one already or suppressed."""
    if suppressed() or _inside.get():
        yield None
        return
    span: Span | None = None
    with guard("auth password span start"):
        span = events.tracer().start_span(name, attributes={"auth.hashing.library": library})
    reset = _inside.set(True)
    try:
        yield span
    except Exception as exc:
        # argon2-cffi says "no match" by raising: an answer, not a failure of the call.
        if span is not None and type(exc).__name__ != "VerifyMismatchError":
            with guard("auth password error"):
                span.set_attribute("error.type", error_type(exc))
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _inside.reset(reset)
        if span is not None:
            with guard("auth password span end"):
                span.end()


def _describe_on(span: Span | None, hashed: object, match: bool | None = None) -> None:
    if span is None or not span.is_recording():
        return
    with guard("auth password attributes"):
        scheme, cost = describe(hashed)
        span.set_attribute("auth.hashing.scheme", scheme)
        if cost is not None:
            span.set_attribute("auth.hashing.cost", cost)
        if match is not None:
            span.set_attribute("auth.hashing.match", match)


def _hash_wrapper(library: str, salt_arg: int | None) -> Callable[[Any], Any]:
    """``hash(secret, …)`` → hash text; ``salt_arg``: the argument that carries the scheme
    before the call (bcrypt's ``hashpw(password, salt)``)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with _span("password.hash", library) as span:
                result = original(*args, **kwargs)
                _describe_on(span, args[salt_arg] if salt_arg is not None else result)
                return result

        return traced

    return wrap


def _verify_wrapper(library: str, hash_arg: int, returns_pair: bool = False) -> Callable[..., Any]:
    """``verify(…)`` → bool (or ``(bool, new_hash)``); argon2-cffi raises on a mismatch."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with _span("password.verify", library) as span:
                hashed = args[hash_arg] if len(args) > hash_arg else kwargs.get("hash", "")
                try:
                    result = original(*args, **kwargs)
                except Exception:
                    _describe_on(span, hashed, match=False)
                    raise
                matched = bool(result[0] if returns_pair else result)
                _describe_on(span, hashed, match=matched)
                if returns_pair and span is not None and span.is_recording():
                    span.set_attribute("auth.hashing.rehashed", result[1] is not None)
                return result

        return traced

    return wrap


def patch_pwdlib(patches: Patches, pwdlib: Any) -> None:
    cls = pwdlib.PasswordHash
    # Methods: argument 0 is ``self``.
    patches.patch(cls, "hash", _hash_wrapper("pwdlib", None))
    patches.patch(cls, "verify", _verify_wrapper("pwdlib", 2))
    patches.patch(cls, "verify_and_update", _verify_wrapper("pwdlib", 2, returns_pair=True))


def patch_passlib(patches: Patches, context: Any) -> None:
    cls = context.CryptContext
    patches.patch(cls, "hash", _hash_wrapper("passlib", None))
    patches.patch(cls, "verify", _verify_wrapper("passlib", 2))
    patches.patch(cls, "verify_and_update", _verify_wrapper("passlib", 2, returns_pair=True))


def patch_bcrypt(patches: Patches, bcrypt: Any) -> None:
    # Module functions, looked up at call time by pwdlib and passlib (``bcrypt.hashpw``); code
    # that did ``from bcrypt import hashpw`` before instrument_auth() keeps the original.
    patches.patch(bcrypt, "hashpw", _hash_wrapper("bcrypt", 1))
    patches.patch(bcrypt, "checkpw", _verify_wrapper("bcrypt", 1))


def patch_argon2(patches: Patches, argon2: Any) -> None:
    cls = argon2.PasswordHasher
    patches.patch(cls, "hash", _hash_wrapper("argon2-cffi", None))
    patches.patch(cls, "verify", _verify_wrapper("argon2-cffi", 1))
