"""Decoding in worker processes, so ingest uses every core.

Decoding OTLP is Python work per span and holds the GIL; in the server's own process it caps
ingest at what one core decodes. Workers (spawned, never forked from a threaded server) turn a
request body into an Arrow table and send it back in Arrow's IPC format, which the parent reads
without copying; the parent only moves bytes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from saler_tracing.server.model import SpanBatch
from saler_tracing.server.receiver.decode_pb import MalformedRequest
from saler_tracing.server.receiver.ingest import BodyTooLarge, decode_body

_MALFORMED, _TOO_LARGE, _OK = "malformed", "too_large", "ok"
logger = logging.getLogger("saler_tracing.server")


def _work(body: bytes, as_json: bool, gzipped: bool, max_body: int) -> tuple[str, Any, int, str]:
    """In the worker: (result, IPC bytes or error message, rejected, reject reason)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    try:
        batch = decode_body(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
    except MalformedRequest as exc:
        return _MALFORMED, str(exc), 0, ""
    except BodyTooLarge as exc:
        return _TOO_LARGE, str(exc), 0, ""
    table = batch.to_arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return _OK, sink.getvalue().to_pybytes(), batch.rejected, batch.reject_reason


def _warm() -> int:
    return 0


def _watch_parent(parent: int) -> None:
    """In each worker: exit when the server is gone, however it went (even SIGKILL)."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class DecodePool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )
        # Start the workers now (imports included), not on the first request.
        for future in [pool.submit(_warm) for _ in range(self.workers)]:
            future.result(timeout=120)
        return pool

    def decode(self, body: bytes, *, as_json: bool, gzipped: bool, max_body: int) -> SpanBatch:
        import pyarrow as pa

        pool = self._pool
        try:
            result, payload, rejected, reason = pool.submit(
                _work, body, as_json, gzipped, max_body
            ).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this request is decoded here, and the
            # pool is replaced, so one lost process never fails every request after it.
            logger.warning("saler-trace: a decoder process died; restarting the pool")
            self._replace(pool)
            return decode_body(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
        if result == _MALFORMED:
            raise MalformedRequest(payload)
        if result == _TOO_LARGE:
            raise BodyTooLarge(payload)
        batch = SpanBatch(table=pa.ipc.open_stream(payload).read_all())
        batch.rejected, batch.reject_reason = rejected, reason
        return batch

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:  # not already replaced by another request's thread
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
                self.restarts += 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
