"""What an outbound HTTP span says: scrubbed URL, server, peer service.

``url.full`` never carries credentials or query values: userinfo becomes
``REDACTED:REDACTED`` (as the semantic conventions ask) and each query value ``REDACTED``
(the parameter names stay, they tell which call it was). ``peer.service`` comes from the
host→service map (``host:port`` first, then ``host``), defaulting to the host.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.instrument import dependencies
from saler_tracing._internal.instrument.dependencies import Edge

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_TARGETS = 1000


def scrubbed_url(url: Any) -> str:
    scheme = url.scheme
    host = url.host
    if ":" in host:
        host = f"[{host}]"
    port = url.port
    netloc = f"{host}:{port}" if port is not None else host
    if url.userinfo:
        netloc = "REDACTED:REDACTED@" + netloc
    path = url.path
    query = url.query
    if query:
        pairs = parse_qsl(query.decode("ascii", "replace"), keep_blank_values=True)
        path += "?" + "&".join(f"{key}=REDACTED" for key, _ in pairs)
    return f"{scheme}://{netloc}{path}"


class Target:
    """One host:port: its attributes and its edge in the dependency map."""

    __slots__ = ("attributes", "edge")

    def __init__(self, scheme: str, host: str, port: int | None, peer: str) -> None:
        attrs: dict[str, AttributeValue] = {"server.address": host, "peer.service": peer}
        effective = port if port is not None else _DEFAULT_PORTS.get(scheme)
        if effective is not None:
            attrs["server.port"] = effective
        self.attributes = attrs
        self.edge: Edge = dependencies.edge(dependencies.HTTP, "http", peer)


class Targets:
    """Targets by (scheme, host, port), for one peer-service map."""

    def __init__(self, peer_services: Mapping[str, str]) -> None:
        self.peer_services = dict(peer_services)
        self._lock = threading.Lock()
        self._targets: dict[tuple[str, str, int | None], Target] = {}

    def get(self, url: Any) -> Target:
        key = (url.scheme, url.host, url.port)
        found = self._targets.get(key)
        if found is None:
            scheme, host, port = key
            effective = port if port is not None else _DEFAULT_PORTS.get(scheme)
            peer = (
                self.peer_services.get(f"{host}:{effective}")
                or self.peer_services.get(host)
                or host
            )
            found = Target(scheme, host, port, peer)
            with self._lock:
                if len(self._targets) < _MAX_TARGETS:
                    self._targets[key] = found
        return found


def method_attributes(method: str) -> dict[str, AttributeValue]:
    if method in KNOWN_METHODS:
        return {"http.request.method": method}
    return {"http.request.method": "_OTHER", "http.request.method_original": method}
