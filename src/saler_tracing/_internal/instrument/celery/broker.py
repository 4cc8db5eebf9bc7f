"""Can Celery use a Redis broker in this environment? The answer, with the fix, before the
first ``delay()`` fails.

kombu >= 5.7's Redis transport refuses redis-py < 6.1 (``VersionMismatch`` at the first
publish), and arq 0.28 requires redis-py < 6: an environment with Celery 5.7 and arq has no
working Redis broker. ``saler-tracing[all]`` pins kombu below 5.7 (Celery 5.6), which accepts
the redis-py arq allows; ``[celery,arq]`` cannot carry that pin (an extra cannot constrain
a combination of others), so ``instrument_celery`` says so in the log when it sees the clash.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

_logger = logging.getLogger("saler_tracing")
_KOMBU_STRICT = (5, 7)  # from this kombu on, the Redis transport needs redis-py >= 6.1
_REDIS_NEEDED = (6, 1)


def _version(dist: str) -> tuple[int, ...] | None:
    try:
        raw = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in raw.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def transport_problem(kombu: tuple[int, ...] | None, redis: tuple[int, ...] | None) -> str | None:
    """Why kombu's Redis transport cannot work with these versions; ``None`` when it can."""
    if kombu is None or redis is None or kombu < _KOMBU_STRICT or redis >= _REDIS_NEEDED:
        return None
    k, r = ".".join(map(str, kombu)), ".".join(map(str, redis))
    return (
        f"Celery's Redis broker cannot work in this environment: kombu {k} needs redis-py >= 6.1"
        f" and redis-py {r} is installed (arq requires redis-py < 6). Install 'kombu<5.7'"
        " (saler-tracing[all] does: Celery 5.6 then accepts it) or use another broker."
    )


def check_broker(app: Any) -> str | None:
    """Log (once per call) and return the problem when ``app`` publishes to a Redis broker."""
    conf = getattr(app, "conf", None)
    url = getattr(conf, "broker_url", None) if conf is not None else None
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "redis+")):
        return None
    problem = transport_problem(_version("kombu"), _version("redis"))
    if problem is not None:
        _logger.error("saler_tracing: %s", problem)
    return problem
