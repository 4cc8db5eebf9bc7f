"""What an integration may ask of the pipeline in use, without importing ``setup``.

``setup`` sits above the integrations (the layers contract in ``pyproject.toml``): it builds
the pipeline, and registers here, once, the few things an integration needs from it. Celery's
prefork pool rebuilds the pipeline in a forked child and flushes it before the child exits;
the dependency map names this service. Before ``setup`` is imported nothing is configured,
and these answer as much.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Controls:
    service_name: Callable[[], str]
    """The configured ``service.name``; ``""`` when nothing is configured."""
    rebuild_after_fork: Callable[[], bool]
    """A fresh pipeline from the same config in a forked child; ``False`` when none is set up."""
    finish: Callable[[], tuple[bool, float] | None]
    """Flush and shut down within the configured deadline: (flushed in time, the deadline),
    or ``None`` when nothing is configured."""
    pseudonym_key: Callable[[], bytes | None] = lambda: None
    """The scrubbing's HMAC key (``configure(scrubbing=ScrubbingOptions(hmac_key=...))`` or its
    variable): authentication events pseudonymise ``enduser.id`` with it when given none."""


_controls = Controls(service_name=lambda: "", rebuild_after_fork=lambda: False, finish=lambda: None)


def provide(controls: Controls) -> None:
    global _controls
    _controls = controls


def service_name() -> str:
    return _controls.service_name()


def rebuild_after_fork() -> bool:
    return _controls.rebuild_after_fork()


def finish() -> tuple[bool, float] | None:
    return _controls.finish()


def pseudonym_key() -> bytes | None:
    return _controls.pseudonym_key()
