"""Redis commands as span text, arguments masked, and the facts of a connection pool."""

from __future__ import annotations

from typing import Any

from opentelemetry.util.types import AttributeValue
from prometheus_client import Histogram

from saler_tracing._internal.instrument import dependencies
from saler_tracing._internal.instrument.dependencies import Edge
from saler_tracing._internal.instrument.kit import PerObject
from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.aggregate import AggregatedHistogram

_MAX_SHOWN_ARGS = 10
_MAX_KEY_CHARS = 128
_MAX_COMMAND_LABELS = 300


def command_name(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return str(name).upper()


def masked(name: str, args: tuple[Any, ...], capture_keys: bool) -> str:
    """``SET ? ?``: every argument a ``?``; with ``capture_keys`` the first one (the key of
    nearly every command) is kept. Long argument lists end in ``…``."""
    rest = len(args) - 1
    if rest <= 0:
        return name
    parts = [name]
    shown = min(rest, _MAX_SHOWN_ARGS)
    if capture_keys:
        key = args[1]
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        parts.append(str(key)[:_MAX_KEY_CHARS])
        parts.extend("?" * (shown - 1))
    else:
        parts.extend("?" * shown)
    if rest > shown:
        parts.append("…")
    return " ".join(parts)


class PoolInfo:
    __slots__ = ("attributes", "edge")

    def __init__(self, pool: Any) -> None:
        kwargs: dict[str, Any] = getattr(pool, "connection_kwargs", {}) or {}
        db = kwargs.get("db", 0)
        attrs: dict[str, AttributeValue] = {"db.system.name": "redis", "db.namespace": str(db)}
        host, port, path = kwargs.get("host"), kwargs.get("port"), kwargs.get("path")
        if path:
            attrs["server.address"] = str(path)
            peer = f"redis+unix://{path}/{db}"
        else:
            host = host or "localhost"
            port = int(port or 6379)
            attrs["server.address"] = str(host)
            attrs["server.port"] = port
            peer = f"redis://{host}:{port}/{db}"
        self.attributes = attrs
        self.edge: Edge = dependencies.edge(dependencies.CACHE, "redis", peer)


pool_info: PerObject[PoolInfo] = PerObject(PoolInfo)


def _duration_histogram() -> Histogram:
    return prom.histogram(
        "saler_tracing_redis_command_duration_seconds",
        "Latency of Redis commands (and pipelines) by command",
        ("command",),
    )


class CommandMetrics:
    """``saler_tracing_redis_command_duration_seconds{command}`` and
    ``saler_tracing_redis_command_errors_total{command}``; labels and the error child cached
    by command name, latency counted in the process and published when read
    (``metrics/aggregate.py``)."""

    def __init__(self) -> None:
        self._durations = AggregatedHistogram(_duration_histogram)
        self._children: dict[str, tuple[str, Any]] = {}
        prom.on_switch(self._children.clear)

    def record(self, name: str, duration_s: float, error: bool) -> None:
        children = self._children.get(name)
        if children is None:
            label = name if len(self._children) < _MAX_COMMAND_LABELS else "_other"
            children = (
                label,
                prom.counter(
                    "saler_tracing_redis_command_errors",
                    "Redis commands that failed, by command",
                    ("command",),
                ).labels(label),
            )
            if len(self._children) < _MAX_COMMAND_LABELS:
                self._children[name] = children
        self._durations.observe(duration_s, children[0])
        if error:
            children[1].inc()


metrics = CommandMetrics()
