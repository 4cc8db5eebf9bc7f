"""``python -m saler_tracing.server`` is ``saler-trace``."""

from saler_tracing.server.cli import main

main()
