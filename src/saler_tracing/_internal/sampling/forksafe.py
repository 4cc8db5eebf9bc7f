"""Fresh locks (and state) in a forked child.

A lock held by another thread at ``fork()`` stays held forever in the child (that thread
does not exist there), and a pre-fork worker server forks after ``configure()``. Each sampling
object with a lock registers a reset that runs in the child; a weak reference keeps the
registration from holding the object alive.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class _ForkAware(Protocol):
    def _after_fork(self) -> None: ...


def reset_after_fork(obj: _ForkAware) -> None:
    ref = weakref.WeakMethod(obj._after_fork)  # noqa: SLF001 - our own objects' hook

    def reset() -> None:
        method = ref()
        if method is not None:
            method()

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=reset)
