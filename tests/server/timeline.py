"""A generated hour of traffic whose figures are known in advance, for the time views' tests.

* ``shop`` ``GET /orders``: one request every 10 s for an hour. Version 1.0 for the first 30
  minutes (50 ms, two ``SELECT`` children); at minute 30 version 2.0 is deployed (120 ms, six
  ``SELECT`` children: an N+1), and every 5th request of 2.0 fails.
* ``flash`` ``GET /sale``: 60 requests, one a second, in minute 40 only — a service seen for
  one minute of the hour serves 1 request a second, not 60 an hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.server.builders import S, request

MINUTE_MS = 60_000
DEPLOY_MS = 30 * MINUTE_MS
FLASH_MS = 40 * MINUTE_MS


@dataclass
class Timeline:
    spans: list[S] = field(default_factory=list)
    v1: list[S] = field(default_factory=list)  # the roots of /orders on 1.0
    v2: list[S] = field(default_factory=list)
    flash: list[S] = field(default_factory=list)


def orders(start_ms: float, version: str, error: bool = False) -> list[S]:
    slow = version != "1.0"
    root = request("/orders", start_ms, 120 if slow else 50, error=error, version=version)
    spans = [root]
    for i in range(6 if slow else 2):
        at = start_ms + 10 + 10 * i
        spans.append(
            root.child(
                "SELECT items",
                at,
                at + 10,
                kind=3,
                attrs={
                    "db.system.name": "postgresql",
                    "db.query.text": f"SELECT * FROM items WHERE id = {i}",
                },
            )
        )
    return spans


def timeline() -> Timeline:
    t = Timeline()
    for i in range(360):
        at = i * 10_000
        v2 = at >= DEPLOY_MS
        spans = orders(at, "2.0" if v2 else "1.0", error=v2 and i % 5 == 0)
        (t.v2 if v2 else t.v1).append(spans[0])
        t.spans += spans
    for i in range(60):
        root = request("/sale", FLASH_MS + i * 1000, 20, service="flash", version=None)
        t.flash.append(root)
        t.spans.append(root)
    return t


def later(start_ms: float) -> list[S]:
    """One more /orders request (2.0), for the live-update tests."""
    return orders(start_ms, "2.0")
