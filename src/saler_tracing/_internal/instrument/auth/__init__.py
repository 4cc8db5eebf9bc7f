"""Authentication flows: password hashing, tokens, FastAPI's security dependencies, explicit
sign-in events, security events and sessions.

``instrument_auth()`` patches the libraries of the ``auth`` extra that are installed (pwdlib,
passlib, bcrypt, argon2-cffi, PyJWT; FastAPI's security classes when FastAPI is there), each
on its own: a missing one is skipped, unless it was asked for by name in ``libraries``. No
contrib instrumentation exists for any of them.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from saler_tracing._internal.config import settings
from saler_tracing._internal.instrument.auth import (
    events,
    hashing,
    security,
    session_watch,
    tokens,
)
from saler_tracing._internal.instrument.auth.detect import Thresholds
from saler_tracing._internal.instrument.auth.events import auth_event
from saler_tracing._internal.instrument.auth.sessions import session_ended, session_started
from saler_tracing._internal.instrument.kit import MissingExtraError, Patches, option, require

__all__ = [
    "auth_event",
    "instrument_auth",
    "session_ended",
    "session_started",
    "uninstrument_auth",
]

_patches = Patches()
_W = "instrument_auth"

# name → (module to import, how to patch it)
_LIBRARIES: dict[str, tuple[str, Callable[[Patches, Any], None]]] = {
    "pwdlib": ("pwdlib", hashing.patch_pwdlib),
    "passlib": ("passlib.context", hashing.patch_passlib),
    "bcrypt": ("bcrypt", hashing.patch_bcrypt),
    "argon2": ("argon2", hashing.patch_argon2),
    "jwt": ("jwt", tokens.patch_jwt),
    "fastapi": ("fastapi.security", lambda patches, _module: security.patch_security(patches)),
    # Sessions of Starlette's SessionMiddleware (it needs itsdangerous, so importing the module
    # fails without it: skipped like a missing library).
    "sessions": ("starlette.middleware.sessions", session_watch.patch_session_middleware),
}


def _available(module: str) -> Any | None:
    # passlib imports the stdlib ``crypt`` module, deprecated since 3.11: we import it on the
    # application's behalf, so its warning is ours to silence.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module(module)
        except ImportError:
            return None


def _pseudonym_key(given: str | bytes | None) -> bytes | None:
    """The argument, else SALER_TRACING_AUTH_HMAC_KEY, else the scrubber's key variable."""
    if isinstance(given, bytes):
        key: bytes | None = given
    else:
        text = option(settings.AUTH_HMAC_KEY, given, _W)
        text = text or settings.SCRUB_HMAC_KEY.resolve(None, os.environ)
        key = text.encode() if text else None
    if key is not None and len(key) < 16:
        # A short key makes the pseudonyms guessable by brute force over likely users.
        raise ValueError(f"{_W}(hmac_key=...): too short; accepted: 16 bytes or more")
    return key


def instrument_auth(
    *,
    libraries: Iterable[str] | None = None,
    hmac_key: str | bytes | None = None,
    security_window_s: float | None = None,
    account_failures: int | None = None,
    address_failures: int | None = None,
    address_accounts: int | None = None,
    security_max_keys: int | None = None,
    token_spans: bool | None = None,
) -> list[str]:
    """Trace sign-in: password hashing, JWT issue/verification, security dependencies.

    ``libraries``: a subset of ``pwdlib``, ``passlib``, ``bcrypt``, ``argon2``, ``jwt``,
    ``fastapi`` (security dependencies), ``sessions`` (Starlette's ``SessionMiddleware``)
    (default: every one installed); one named but missing raises
    :class:`MissingExtraError`. ``hmac_key`` keys the ``enduser.id`` pseudonyms (default:
    ``SALER_TRACING_AUTH_HMAC_KEY``, else ``SALER_TRACING_SCRUB_HMAC_KEY``, else the key given
    to ``configure(scrubbing=ScrubbingOptions(hmac_key=...))``). The thresholds
    decide the security events. ``token_spans=False`` puts a JWT verification's outcome on
    the current span instead of a span of its own (cheaper on every request). Returns the
    libraries instrumented (a second call: ``[]``)."""
    key = _pseudonym_key(hmac_key)
    thresholds = Thresholds(
        window_s=option(settings.AUTH_WINDOW_S, security_window_s, _W),
        account_failures=option(settings.AUTH_ACCOUNT_FAILURES, account_failures, _W),
        address_failures=option(settings.AUTH_ADDRESS_FAILURES, address_failures, _W),
        address_accounts=option(settings.AUTH_ADDRESS_ACCOUNTS, address_accounts, _W),
        max_keys=option(settings.AUTH_MAX_KEYS, security_max_keys, _W),
    )
    wanted = list(_LIBRARIES) if libraries is None else list(libraries)
    unknown = [name for name in wanted if name not in _LIBRARIES]
    if unknown:
        raise ValueError(f"{_W}(libraries=...): unknown {unknown}; accepted: {list(_LIBRARIES)}")
    modules: dict[str, Any] = {}
    for name in wanted:
        module_name = _LIBRARIES[name][0]
        found = _available(module_name)
        if found is None and libraries is not None:
            found = require(module_name, "auth")  # raises MissingExtraError naming the extra
        if found is not None:
            modules[name] = found
    if not modules:
        raise MissingExtraError(
            "none of pwdlib, passlib, bcrypt, argon2-cffi, PyJWT is installed; install them "
            "with: pip install 'saler-tracing[auth]'"
        )
    events.set_state(key, thresholds, option(settings.AUTH_TOKEN_SPANS, token_spans, _W))

    def apply(patches: Patches) -> None:
        for name, module in modules.items():
            _LIBRARIES[name][1](patches, module)

    return list(modules) if _patches.install(apply) else []


def uninstrument_auth() -> None:
    _patches.uninstall()
