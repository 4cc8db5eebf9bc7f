"""Who may read the telemetry endpoints and the trace server's API: one rule, every surface.

The surfaces: ``health_router()`` (a FastAPI app's ``/api/v1/tracing/stats``, and the details
of ``/health``), ``serve_telemetry()`` (the same documents for a worker without a web app) and
``saler-trace serve`` (its web view, JSON API and OTLP receivers). Each turns its request into
a :class:`Caller` and its configuration into a :class:`Policy` and asks :func:`allowed`:

* with a token configured, the caller must present it — ``Authorization: Bearer …`` or (the
  trace server's browser) the cookie it set — compared in constant time;
* else, when the application's own check (``health_router(authorize=...)``) accepted the
  caller, that is enough;
* else, only where loopback callers are let in (``ApiOptions(allow_loopback=True)``; always for
  the trace server, which refuses to listen beyond loopback without a token), a loopback
  caller whose request carries no forwarding header (behind a same-host proxy every request
  arrives from 127.0.0.1, whoever sent it);
* else no one.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Protocol

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")


class HeaderNames(Protocol):
    """Starlette's ``Headers`` and the stdlib's ``email.message.Message``: both answer
    ``name in headers`` case-insensitively."""

    def __contains__(self, name: str, /) -> bool: ...


@dataclass(frozen=True)
class Policy:
    token: str | None
    """The secret every caller must present; ``None`` or ``""``: no token configured."""
    loopback: bool = False
    """Without a token, let loopback callers in."""


@dataclass(frozen=True)
class Caller:
    host: str | None
    """The peer address of the connection."""
    authorization: str | None = None
    cookie: str | None = None
    forwarded: bool = False
    """The request carries one of :data:`FORWARDING_HEADERS`."""
    vouched: bool = False
    """The application's own check (an ``authorize`` dependency) ran and accepted the caller."""


def allowed(policy: Policy, caller: Caller) -> bool:
    if policy.token:
        if bearer_ok(caller.authorization, policy.token):
            return True
        return caller.cookie is not None and _same(caller.cookie, policy.token)
    if caller.vouched:
        return True
    if not policy.loopback or caller.forwarded:
        return False
    return is_loopback(caller.host)


def forwarded(headers: HeaderNames) -> bool:
    """Whether the request came through a proxy that said so."""
    return any(name in headers for name in FORWARDING_HEADERS)


def is_loopback(host: str | None) -> bool:
    """``127.0.0.0/8``, ``::1`` (bracketed or not) and ``localhost``."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_ok(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return _same(value.strip(), token)


def _same(given: str, token: str) -> bool:
    # compare_digest: the time taken does not tell how much of the token was right.
    return hmac.compare_digest(given.encode(), token.encode())
