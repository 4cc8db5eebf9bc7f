"""The ``ExportTraceServiceRequest`` around encoded spans: grouped by resource, then scope.

Spans come already encoded (:func:`.encode.encode`), so a request is headers and joins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from saler_tracing._internal.export.caches import KeyValues
from saler_tracing._internal.export.wire import ld, plain, text, varint

EncodedSpan = tuple[Resource, "InstrumentationScope | None", bytes]
"""A span ready for the wire: its resource and scope (for grouping) and its ``Span`` field."""

# Header bytes cached by object identity (one resource object per provider, one scope object
# per tracer); the object is kept with its bytes so a recycled ``id()`` cannot match.
_header_cache: dict[int, tuple[object, bytes]] = {}
_resource_attributes = KeyValues(b"\x0a")
_scope_attributes = KeyValues(b"\x1a")


def _cached(obj: object, make: Any) -> bytes:
    hit = _header_cache.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    enc: bytes = make(obj)
    if len(_header_cache) >= 256:
        _header_cache.clear()
    _header_cache[id(obj)] = (obj, enc)
    return enc


def _resource_header(resource: Resource) -> bytes:
    return ld(b"\x0a", _resource_attributes(plain(resource.attributes)))


def _scope_header(scope: InstrumentationScope | None) -> bytes:
    body = b""
    if scope is not None:
        body = text(b"\x0a", scope.name) if scope.name else b""
        if scope.version:
            body += text(b"\x12", scope.version)
        body += _scope_attributes(plain(scope.attributes))
    return ld(b"\x0a", body)


Groups = dict[int, tuple[Resource, dict[Any, tuple[Any, list[bytes]]]]]


def encode_request(spans: Iterable[EncodedSpan]) -> bytes:
    """The ``ExportTraceServiceRequest`` bytes for already-encoded spans, grouped by resource
    then scope in order of first appearance, as the official encoder groups them: by
    equality (``Resource.__hash__`` dumps JSON, so the groups are found by identity first).

    One join for the whole request: each enclosing message's tag and length are computed
    from its parts' lengths, never by copying its body into a bigger one. A batch is hundreds
    of KiB, and each level of nesting copied it again (then each join once more), on the
    thread that cuts the batch (``benchmarks/bench_export.py --encoder-only``, "request of
    512 encoded spans")."""
    groups: Groups = {}  # id of the first of equal resources -> it, and its scopes likewise
    # A batch is runs of spans sharing one resource object and one scope object: the group
    # is looked for once a run.
    last_resource = last_scope = bodies = None
    for resource, scope, body in spans:
        if resource is not last_resource or scope is not last_scope:
            bodies = _group(groups, resource, scope)
            last_resource, last_scope = resource, scope
        bodies.append(body)  # type: ignore[union-attr]
    parts: list[bytes] = []
    for resource, by_scope in groups.values():
        at = len(parts)
        parts.append(b"")  # the ResourceSpans field's tag and length, once its size is known
        header = _cached(resource, _resource_header)
        parts.append(header)
        size = len(header)
        for scope, bodies in by_scope.values():
            header = _cached(scope, _scope_header)
            schema = (
                text(b"\x1a", scope.schema_url) if scope is not None and scope.schema_url else b""
            )
            inner = len(header) + sum(map(len, bodies)) + len(schema)
            head = b"\x12" + varint(inner)  # the ScopeSpans field
            parts += (head, header)
            parts += bodies
            parts.append(schema)
            size += len(head) + inner
        if resource.schema_url:
            schema = text(b"\x1a", resource.schema_url)
            parts.append(schema)
            size += len(schema)
        parts[at] = b"\x0a" + varint(size)
    return b"".join(parts)


def _group(groups: Groups, resource: Resource, scope: InstrumentationScope | None) -> list[bytes]:
    """The body list of the group (``resource``, ``scope``) belong to, made if new."""
    entry = groups.get(id(resource))
    if entry is None:
        canon = next((r for r, _ in groups.values() if r == resource), resource)
        entry = groups.setdefault(id(canon), (canon, {}))
    by_scope = entry[1]
    found = by_scope.get(scope)  # equal scopes share a group, as in the official encoder
    if found is None:
        found = by_scope[scope] = (scope, [])
    return found[1]
