"""Deadlines for HTTP connections that send too slowly: a request's headers within
``header_timeout_s`` of the connection (or of the request's first byte), its body within
``body_timeout_s`` of the headers.

uvicorn closes a keep-alive connection that stays idle (5 s), but once a byte of a request has
arrived it waits for the rest for ever: a client holding many half-sent requests (slowloris)
held as many sockets, and their memory, for as long as it liked. This is uvicorn's httptools
protocol with those two timers added (its parser callbacks are where a request's phases
begin and end); without httptools, uvicorn's default protocol runs, untimed.
"""

from __future__ import annotations

from typing import Any


def timed_protocol(header_timeout_s: float, body_timeout_s: float) -> Any:
    """The protocol class for ``uvicorn.Config(http=...)``, or ``"auto"``."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: uvicorn's h11 protocol, without these deadlines
        return "auto"

    class TimedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc]
        _deadline: Any = None

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            self._arm(header_timeout_s)
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._arm(body_timeout_s)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

    return TimedHttpToolsProtocol
