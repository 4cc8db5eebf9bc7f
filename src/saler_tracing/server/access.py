"""Who may talk to the server: the library's rule (``saler_tracing._internal.access``), applied
to every port.

No token: loopback clients only, and the server refuses to bind anything but a loopback
address. A loopback request that a proxy forwarded (it carries ``Forwarded``,
``X-Forwarded-For``, ``X-Real-IP`` or ``X-Forwarded-Host``) is refused too: behind a proxy on
the same host every caller, from anywhere, arrives from 127.0.0.1. With a token: every request
carries it (``Authorization: Bearer …`` or, for the browser, the cookie set by opening
``/?token=…`` once), compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from saler_tracing._internal import access as rule

COOKIE = "saler_trace_token"
Scope = dict[str, Any]


class BindRefused(ValueError):
    pass


def is_loopback_host(host: str) -> bool:
    return rule.is_loopback(host)


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback_host(host) and not token:
        raise BindRefused(
            f"refusing to listen on {host!r} without a token: anyone who can reach it could "
            "read every trace. Pass --token (or SALER_TRACE_TOKEN), or bind 127.0.0.1."
        )


def grpc_peer_host(peer: str) -> str | None:
    """``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` → the address."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return None


class Access:
    def __init__(self, token: str | None) -> None:
        self.token = token or None
        # Without a token, loopback callers that no proxy forwarded (see the module's doc).
        self._policy = rule.Policy(self.token, loopback=True)

    def allowed(
        self,
        client_host: str | None,
        authorization: str | None,
        cookie: str | None,
        forwarded: bool = False,
    ) -> bool:
        caller = rule.Caller(client_host, authorization, cookie, forwarded=forwarded)
        return rule.allowed(self._policy, caller)

    def grpc_allowed(self, peer: str, metadata: Mapping[str, str]) -> bool:
        """``metadata``: the call's invocation metadata (gRPC lower-cases its keys)."""
        forwarded = any(name in metadata for name in rule.FORWARDING_HEADERS)
        return self.allowed(grpc_peer_host(peer), metadata.get("authorization"), None, forwarded)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class AccessMiddleware:
    """Pure ASGI: 401 (or 403 for a non-loopback client without a token) before any route."""

    def __init__(self, app: Any, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        cookie_value = None
        raw_cookie = _header(scope, b"cookie")
        if raw_cookie:
            morsel = SimpleCookie(raw_cookie).get(COOKIE)
            cookie_value = morsel.value if morsel else None
        query_token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if (
            query_token
            and self.access.token
            and scope["path"] == "/"
            and hmac.compare_digest(query_token[0].encode(), self.access.token.encode())
        ):
            # Trade the token in the address for a cookie and drop it from the address bar.
            await _redirect_with_cookie(send, self.access.token)
            return
        forwarded = any(
            bytes(key).lower().decode("latin-1") in rule.FORWARDING_HEADERS
            for key, _ in scope.get("headers") or ()
        )
        if self.access.allowed(
            client[0] if client else None,
            _header(scope, b"authorization"),
            cookie_value,
            forwarded,
        ):
            await self.app(scope, receive, send)
            return
        status = 401 if self.access.token else 403
        if status == 401:
            body = b'{"error":"unauthorized"}'
        elif forwarded:
            body = (
                b'{"error":"a request forwarded by a proxy needs a token:'
                b' start saler-trace serve with --token"}'
            )
        else:
            body = b'{"error":"loopback only"}'
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Any, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", b"/"), (b"set-cookie", cookie), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
