"""Checked browser spans made into SDK spans: the frontend's resource forced on them, their
clock corrected against the server's, ``enduser.id`` pseudonymised.

Clock skew: a browser times spans with its own wall clock, which may be minutes off. The
bundle sends its clock's reading at the moment it sends (``sent``, milliseconds); the
difference from our clock at receipt is the skew, network time included, so a difference
under :data:`TOLERANCE_NS` is left alone (correcting it would add the network's delay as an
error). Without ``sent``, only spans ending in our future are pulled back to the receive time.
After correction a span that ends before it starts, lasts longer than an hour, ends in the
future or is older than a day is dropped (counted, outcome ``timestamp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, TraceFlags

from saler_tracing._internal.endpoints.browser.decode import RawSpan
from saler_tracing._internal.scrub.pseudonym import Pseudonymizer

TOLERANCE_NS = 1_000_000_000
MAX_DURATION_NS = 3_600 * 1_000_000_000
MAX_AGE_NS = 86_400 * 1_000_000_000
SKEW_KEY = "saler.browser.clock_skew_ms"
# What a page may say about itself; everything else on its resource is dropped.
RESOURCE_KEYS = frozenset(
    {
        "service.version",
        "deployment.environment.name",
        "telemetry.sdk.language",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
        "user_agent.original",
    }
)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def skew_ns(spans: list[RawSpan], sent_ms: float | None, received_ns: int) -> int:
    """What to add to every timestamp of one request (0: leave them)."""
    if sent_ms is not None:
        skew = received_ns - int(sent_ms * 1_000_000)
        return skew if abs(skew) > TOLERANCE_NS else 0
    latest = max((s.end_ns for s in spans), default=0)
    return received_ns - latest if latest > received_ns + TOLERANCE_NS else 0


def plausible(span: RawSpan, received_ns: int) -> bool:
    """After correction: ends after it starts, within an hour, not in the future, not stale.
    Its events are kept only within an hour of it (an event time is a fixed64 on the wire;
    a wild one would fail the export batch, not just this span)."""
    if not (
        span.start_ns <= span.end_ns
        and span.end_ns - span.start_ns <= MAX_DURATION_NS
        and span.end_ns <= received_ns + TOLERANCE_NS
        and span.start_ns >= received_ns - MAX_AGE_NS
    ):
        return False
    low, high = span.start_ns - MAX_DURATION_NS, span.end_ns + MAX_DURATION_NS
    span.events = [e for e in span.events if low <= e[1] <= high]
    return True


class Resources:
    """One :class:`Resource` per distinct page description, all naming ``service``: the
    exporter groups spans by resource, and a bound keeps odd pages from growing the cache."""

    def __init__(self, service: str, limit: int = 256) -> None:
        self.service = service
        self._limit = limit
        self._cache: dict[tuple[tuple[str, Any], ...], Resource] = {}

    def get(self, claimed: Mapping[str, Any]) -> Resource:
        kept = tuple(sorted((k, v) for k, v in claimed.items() if k in RESOURCE_KEYS))
        found = self._cache.get(kept)
        if found is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            found = Resource({**dict(kept), "service.name": self.service})
            self._cache[kept] = found
        return found


def build(
    raw: RawSpan,
    resource: Resource,
    scopes: dict[tuple[str, str], InstrumentationScope],
    shift_ns: int,
    pseudonyms: Pseudonymizer | None,
) -> tuple[ReadableSpan, bool]:
    """The SDK span, and whether an ``enduser.id`` had to be dropped (no key to hide it).
    ``raw``'s times are already corrected; ``shift_ns`` is recorded on the span."""
    attrs = raw.attributes
    dropped_user = False
    user = attrs.get("enduser.id")
    if user is not None:
        if pseudonyms is None:
            del attrs["enduser.id"]
            dropped_user = True
        else:
            attrs["enduser.id"] = pseudonyms.token(str(user))
    if shift_ns:
        attrs[SKEW_KEY] = round(shift_ns / 1_000_000)
    scope = scopes.get(raw.scope)
    if scope is None:
        scope = scopes.setdefault(
            raw.scope, InstrumentationScope(raw.scope[0], raw.scope[1] or None)
        )
    parent = (
        SpanContext(raw.trace_id, raw.parent_id, is_remote=False, trace_flags=_SAMPLED)
        if raw.parent_id
        else None
    )
    span = ReadableSpan(
        name=raw.name,
        context=SpanContext(raw.trace_id, raw.span_id, is_remote=False, trace_flags=_SAMPLED),
        parent=parent,
        resource=resource,
        attributes=MappingProxyType(attrs),
        events=[Event(name, MappingProxyType(a), t) for name, t, a in raw.events],
        kind=raw.kind,
        instrumentation_scope=scope,
        status=raw.status,
        start_time=raw.start_ns,
        end_time=raw.end_ns,
    )
    return span, dropped_user
