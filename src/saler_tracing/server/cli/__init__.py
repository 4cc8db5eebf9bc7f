"""``saler-trace``, the command line: commands (``main``), where they read from (``sources``),
and the terminal rendering (``render``)."""

from saler_tracing.server.cli.main import main

__all__ = ["main"]
