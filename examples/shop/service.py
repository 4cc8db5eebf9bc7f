"""The shop as a process of its own (the demo runs it in-process), for the monitoring stack.

Run: ``python -m examples.shop.service PORT_FILE PAYMENTS_URL DATABASE_FILE`` — binds 127.0.0.1
on a free port and writes it to PORT_FILE. Tracing settings come from the OTEL_* and
SALER_TRACING_* environment; the service name defaults to ``shop``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import saler_tracing
from examples.shop import db
from examples.shop.app import create_app
from examples.shop.serve import serve


def main() -> None:
    port_file, payments_url, database = sys.argv[1:4]
    saler_tracing.configure(service_name=os.environ.get("OTEL_SERVICE_NAME", "shop"))
    engine = db.create(f"sqlite:///{database}")
    saler_tracing.instrument_sqlalchemy(engine)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with serve(create_app(engine, payments_url)) as base:
            Path(port_file).write_text(base.rsplit(":", 1)[1])
            stop.wait()
    finally:
        saler_tracing.shutdown()


if __name__ == "__main__":
    main()
