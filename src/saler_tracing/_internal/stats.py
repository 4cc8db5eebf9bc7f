"""Figures served by ``/api/v1/tracing/stats``: each part registers a provider of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from saler_tracing._internal.errors import guard

StatsProvider = Callable[[], Mapping[str, Any]]

_lock = threading.Lock()
_providers: dict[str, StatsProvider] = {}


def register(section: str, provider: StatsProvider) -> None:
    """Serve ``provider()`` under ``section`` in the stats document (replaces a previous one)."""
    with _lock:
        _providers[section] = provider


def unregister(section: str) -> None:
    with _lock:
        _providers.pop(section, None)


def collect() -> dict[str, Any]:
    with _lock:
        providers = dict(_providers)
    out: dict[str, Any] = {}
    for section, provider in sorted(providers.items()):
        with guard(f"stats provider {section}"):
            out[section] = dict(provider())
    return out
