"""Optional integrations are imported only when asked for, with an error naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An integration was asked for but its optional dependency is not installed."""


def require(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module!r} is not installed; install it with: pip install 'saler-tracing[{extra}]'"
        ) from exc
