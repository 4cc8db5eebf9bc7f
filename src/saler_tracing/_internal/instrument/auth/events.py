"""Sign-in events: ``auth_event()`` and the counters and security events behind it.

An event is a span event on the current span (the login request's), marks that span critical
(its trace is kept whatever the samplers decided) and is counted in
``saler_tracing_auth_events_total{event,outcome,reason}``. A failure feeds the
:class:`SecurityMonitor`; a kind it fires is a ``security.<kind>`` span event and
``saler_tracing_security_events_total{kind}``. Outside any span, a short span ``auth <event>``
carries the event, so it is never lost.

The user becomes ``enduser.id``: a keyed pseudonym (the scrubber's, same key, same token for
the same user), never the e-mail or name given. Without a key no ``enduser.id`` is recorded
at all (logged once): a plain hash of an e-mail is reversible by guessing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span
from prometheus_client import Counter

from saler_tracing._internal import process
from saler_tracing._internal.critical import CRITICAL_ATTR
from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.auth.detect import SecurityMonitor, Thresholds
from saler_tracing._internal.instrument.kit import suppressed
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.cardinality import LabelCap
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer

_log = logging.getLogger("saler_tracing")
_labels = LabelCap(32)  # event, outcome and reason are the app's words: bound each label


@dataclass
class AuthState:
    pseudonyms: Pseudonymizer | None = None
    monitor: SecurityMonitor = field(default_factory=SecurityMonitor)
    token_spans: bool = True
    warned: bool = False


_state = AuthState()
_state_lock = threading.Lock()


def set_state(key: bytes | None, thresholds: Thresholds, token_spans: bool = True) -> None:
    global _state
    with _state_lock:
        _state = AuthState(
            Pseudonymizer(key) if key else None, SecurityMonitor(thresholds), token_spans
        )


def state() -> AuthState:
    return _state


def tracer() -> trace.Tracer:
    # One tracer for the process: the global provider behind it follows configure().
    if not _TRACER:
        _TRACER.append(trace.get_tracer("saler_tracing.auth"))
    return _TRACER[0]


_TRACER: list[trace.Tracer] = []
# Label children of the events counter: a token check on every request must not pay the
# labels() lookup each time. Dropped when the registry changes.
_children: dict[tuple[str, str, str], Any] = {}
prom.on_switch(_children.clear)


def _events() -> Counter:
    return prom.counter(
        "saler_tracing_auth_events",
        "Authentication events (login, logout, refresh, MFA, token checks…) by outcome and reason",
        ("event", "outcome", "reason"),
    )


def _security() -> Counter:
    return prom.counter(
        "saler_tracing_security_events",
        "Security events: brute force, credential stuffing, token tampering…",
        ("kind",),
    )


_configured: tuple[bytes, Pseudonymizer] | None = None


def _from_configure() -> Pseudonymizer | None:
    """The pseudonymizer of ``configure()``'s scrubbing key, read at call time: the
    application may configure after instrumenting, or reconfigure with another key."""
    global _configured
    key = process.pseudonym_key()
    if not key:
        return None
    cached = _configured
    if cached is None or cached[0] != key:
        cached = _configured = (key, Pseudonymizer(key))
    return cached[1]


def pseudonym(user: str | None) -> str | None:
    if user is None or not str(user).strip():
        return None
    current = _state
    pseudonyms = current.pseudonyms or _from_configure()
    if pseudonyms is None:
        if not current.warned:
            current.warned = True
            _log.warning(
                "saler_tracing: auth events carry no enduser.id: no pseudonym key "
                "(instrument_auth(hmac_key=...), configure(scrubbing=ScrubbingOptions("
                "hmac_key=...)) or SALER_TRACING_SCRUB_HMAC_KEY)"
            )
        return None
    return pseudonyms.token(str(user))


def count(event: str, outcome: str, reason: str) -> None:
    key = (event, outcome, reason)
    child = _children.get(key)
    if child is None:
        child = _events().labels(
            _labels.bound("event", event),
            _labels.bound("outcome", outcome),
            _labels.bound("reason", reason, event),
        )
        if len(_children) < 1024:
            _children[key] = child
    child.inc()


def security_event(kind: str, span: Span | None = None, **attributes: str | int) -> None:
    """Count one security event and put it on ``span`` (the current one by default)."""
    _security().labels(kind).inc()
    target = span or trace.get_current_span()
    if target.is_recording():
        target.add_event(f"security.{kind}", {"security.kind": kind, **attributes})
        target.set_attribute(CRITICAL_ATTR, "auth")


def auth_event(
    event: str,
    *,
    outcome: str = "success",
    reason: str | None = None,
    user: str | None = None,
    client_address: str | None = None,
) -> None:
    """Record a sign-in event: ``login``, ``logout``, ``refresh``, ``mfa_challenge``,
    ``mfa_verify``, ``password_reset``, ``permission_denied`` (or your own word).

    ``outcome`` is ``success`` or ``failure``; ``reason`` a short word (``bad_password``);
    ``user`` any identifier (recorded only as a keyed pseudonym); ``client_address`` the
    caller's address, which the brute-force and credential-stuffing windows key on."""
    if suppressed():
        return
    with guard("auth_event"):
        _record(event, outcome, reason or "none", user, client_address)


def _record(event: str, outcome: str, reason: str, user: str | None, address: str | None) -> None:
    count(event, outcome, reason)
    enduser = pseudonym(user)
    attributes: dict[str, str] = {"auth.event": event, "auth.outcome": outcome}
    if reason != "none":
        attributes["auth.reason"] = reason
    if enduser is not None:
        attributes["enduser.id"] = enduser
    if address:
        attributes["client.address"] = address
    current = trace.get_current_span()
    own = None
    if not current.is_recording():
        own = tracer().start_span(f"auth {event}")
        current = own
    try:
        current.add_event(f"auth.{event}", attributes)
        current.set_attribute(CRITICAL_ATTR, "auth")
        if enduser is not None:
            current.set_attribute("enduser.id", enduser)
        if outcome == "failure":
            # Without a pseudonym key the windows still key on the user, hashed in memory
            # only (never exported).
            account = enduser or (_memory_key(user) if user else None)
            for kind, seen in _state.monitor.failure(account, address):
                security_event(kind, current, **_subject(enduser, address), count=seen)
    finally:
        if own is not None:
            own.end()


def _memory_key(user: str) -> str:
    return hashlib.sha256(user.strip().casefold().encode()).hexdigest()


def _subject(enduser: str | None, address: str | None) -> Mapping[str, str]:
    subject = {}
    if enduser is not None:
        subject["enduser.id"] = enduser
    if address:
        subject["client.address"] = address
    return subject
