"""The ``Host`` header check on every HTTP endpoint: the defence against DNS rebinding.

A page on a hostile domain whose name is made to resolve to 127.0.0.1 is, for the browser, the
same origin as this server: without this check it could read ``/api/traces`` (and post spans).
Its requests still carry its own name in ``Host``, so only hosts the server answers to are
accepted: IP literals (a page is never served from one it does not own), ``localhost`` and
``*.localhost`` (RFC 6761: they never leave the machine), the address it is bound to, and the
names given with ``--allow-host`` (``*`` turns the check off). A request without ``Host``
(HTTP/1.0, no browser sends one) passes.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any


def host_name(header: str) -> str:
    """``Host`` without its port, lowercase, without a trailing dot; ``[::1]`` → ``::1``."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class AllowedHosts:
    def __init__(self, bound: str, extra: Iterable[str] = ()) -> None:
        names = {host_name(h) for h in extra if h.strip()}
        self.any = "*" in names
        names.add(host_name(bound))
        self.names = frozenset(names)

    def allows(self, header: str | None) -> bool:
        if header is None or self.any:
            return True
        name = host_name(header)
        if name in self.names or name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


class HostCheck:
    """Pure ASGI, ahead of every route (the OTLP endpoint included): 403 for another host."""

    def __init__(self, app: Any, hosts: AllowedHosts) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope.get("headers") or ():
            if bytes(key).lower() == b"host":
                header = bytes(value).decode("latin-1")
                break
        if self.hosts.allows(header):
            await self.app(scope, receive, send)
            return
        name = host_name(header or "")
        body = json.dumps(
            {
                "error": f"host {name!r} is not one this server answers to; if it is this"
                f" machine's name, start the server with --allow-host {name}"
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})
