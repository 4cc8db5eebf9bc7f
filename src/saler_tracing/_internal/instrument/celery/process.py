"""Prefork worker children: a fresh pipeline after the fork, a flush before the exit.

billiard forks pool children from the worker's main process, which has usually configured
tracing at import. A child must not share the parent's export pipeline: its queue holds the
parent's spans and its HTTP connections are the parent's sockets. ``worker_process_init``
rebuilds the pipeline in the child from the same configuration.

billiard ends a child with ``os._exit`` (after ``worker_max_tasks_per_child`` tasks, on
``worker_max_memory_per_child``, at shutdown): ``atexit`` never runs, so whatever the batch
queue holds is lost (contrib#4916). ``worker_process_shutdown`` runs in the child just before
that exit; we flush there, bounded by the configured shutdown timeout so a dead collector
cannot hold the pool.
"""

from __future__ import annotations

import logging
from typing import Any

from saler_tracing._internal import process
from saler_tracing._internal.instrument.kit import guard

logger = logging.getLogger("saler_tracing")


def _on_process_init(**kw: Any) -> None:
    with guard("celery worker_process_init"):
        process.rebuild_after_fork()


def _on_process_shutdown(**kw: Any) -> None:
    with guard("celery worker_process_shutdown"):
        outcome = process.finish()
        if outcome is None:
            return
        flushed, deadline = outcome
        if not flushed:
            logger.warning(
                "saler_tracing: pool process exiting before its spans were exported (%.1fs)",
                deadline,
            )


def handlers(signals: Any) -> list[tuple[Any, Any]]:
    return [
        (signals.worker_process_init, _on_process_init),
        (signals.worker_process_shutdown, _on_process_shutdown),
    ]
