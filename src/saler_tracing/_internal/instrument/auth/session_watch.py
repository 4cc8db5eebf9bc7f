"""Sessions kept by Starlette's ``SessionMiddleware``, seen without code changes.

The middleware loads the signed cookie into ``scope["session"]`` and writes it back when the
response starts. Wrapping the application *inside* it (``self.app``) sees the session as
loaded and as the response leaves, before it is serialised: empty → non-empty is a sign-in
(``session_started``), non-empty → empty a sign-out (``session_ended``, reason ``cleared``).

The lifetime needs the start time, and the cookie is the only place that survives between
requests and workers: the start (Unix seconds) is stored in the session under
``_saler_started``. A session the cookie's ``max_age`` expires is never seen ending: the active
gauge counts sign-ins minus sign-outs, not expiries (docs/auth.md says so).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from saler_tracing._internal import clock
from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.auth import sessions
from saler_tracing._internal.instrument.kit import Patches

STARTED_KEY = "_saler_started"


class _SessionWatch:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        session = scope.get("session") if scope.get("type") == "http" else None
        if session is None:
            await self.app(scope, receive, send)
            return
        initial = dict(session)

        async def watch(message: Any) -> None:
            if message.get("type") == "http.response.start":
                with guard("session middleware"):
                    _compare(initial, scope.get("session"))
            await send(message)

        await self.app(scope, receive, watch)


def _compare(initial: dict[str, Any], final: Any) -> None:
    if final is None:
        return
    if not initial and final:
        final[STARTED_KEY] = clock.now_ns() // 10**9
        sessions.record_started()
    elif initial and not final:
        started = initial.get(STARTED_KEY)
        lifetime = clock.now_ns() / 1e9 - started if isinstance(started, int) else None
        sessions.record_ended("cleared", lifetime)


def patch_session_middleware(patches: Patches, module: Any) -> None:
    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def init(self: Any, app: Any, *args: Any, **kwargs: Any) -> None:
            original(self, _SessionWatch(app), *args, **kwargs)

        return init

    patches.patch(module.SessionMiddleware, "__init__", wrap)
