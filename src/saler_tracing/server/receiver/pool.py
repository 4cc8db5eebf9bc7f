"""Decoding in worker processes, so ingest uses every core.

Decoding OTLP is Python work per span and holds the GIL; in the server's own process it caps
ingest at what one core decodes. Each worker (spawned, never forked from a threaded server)
owns one pipe: a request's thread takes an idle worker, sends it the body and waits for the
Arrow table back in Arrow's IPC format, which the parent reads without copying. No executor
in between: its manager thread and queues cost the server's process more than the pipe itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from typing import Any

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver.errors import BodyTooLarge, MalformedRequest
from saler_tracing.server.receiver.ingest import decode_body

_MALFORMED, _TOO_LARGE, _OK = "malformed", "too_large", "ok"
logger = logging.getLogger("saler_tracing.server")


def _work(body: bytes, options: tuple[bool, bool, int]) -> tuple[tuple[Any, ...], Any]:
    """In the worker: ((result, error message, rejected, reason, resources), IPC payload)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    as_json, gzipped, max_body = options
    try:
        batch = decode_body(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
    except MalformedRequest as exc:
        return (_MALFORMED, str(exc), 0, "", {}), b""
    except BodyTooLarge as exc:
        return (_TOO_LARGE, str(exc), 0, "", {}), b""
    table = batch.to_arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return (_OK, "", batch.rejected, batch.reject_reason, batch.resources), sink.getvalue()


def _serve(conn: Any, parent: int) -> None:
    """A worker's life: answer requests on ``conn`` until it closes or the server is gone."""
    import time

    def watch() -> None:  # exit when the server is gone, however it went (even SIGKILL)
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    import pyarrow  # noqa: F401  (imported before the first request, not during it)

    conn.send(_OK)
    while True:  # bodies and tables as raw bytes: pickling them would copy them once more
        try:
            options = conn.recv()
            body = conn.recv_bytes()
        except (EOFError, OSError):
            return
        header, payload = _work(body, options)
        conn.send(header)
        conn.send_bytes(payload)


class _Worker:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(child, os.getpid()), name="saler-trace-decoder", daemon=True
        )
        self.process.start()
        child.close()
        self.started = False  # its first message, once its imports are done, not yet read

    def wait_started(self, timeout_s: float | None = None) -> None:
        if not self.started:
            if timeout_s is not None and not self.conn.poll(timeout_s):
                raise RuntimeError("saler-trace: a decoder process did not start")
            if self.conn.recv() != _OK:
                raise RuntimeError("saler-trace: a decoder process did not start")
            self.started = True

    def stop(self) -> None:
        self.conn.close()  # the worker's recv ends: it returns
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class DecodePool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self._lock = threading.Lock()
        self._all = [_Worker() for _ in range(workers)]
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for worker in self._all:
            worker.wait_started(120)  # now, imports included, not on the first request
            self._idle.put(worker)

    def decode(self, body: bytes, *, as_json: bool, gzipped: bool, max_body: int) -> SpanBatch:
        import pyarrow as pa

        worker = self._idle.get()
        try:
            worker.wait_started()
            worker.conn.send((as_json, gzipped, max_body))
            worker.conn.send_bytes(body)
            result, message, rejected, reason, resources = worker.conn.recv()
            payload = worker.conn.recv_bytes()
        except (EOFError, OSError):
            # The worker died (killed, out of memory): this request is decoded here and the
            # worker replaced, so one lost process never fails every request after it.
            logger.warning("saler-trace: a decoder process died; starting another")
            self._idle.put(self._replace(worker))
            return decode_body(body, as_json=as_json, gzipped=gzipped, max_body=max_body)
        self._idle.put(worker)
        if result == _MALFORMED:
            raise MalformedRequest(message)
        if result == _TOO_LARGE:
            raise BodyTooLarge(message)
        batch = SpanBatch(table=pa.ipc.open_stream(payload).read_all(), resources=resources)
        batch.rejected, batch.reject_reason = rejected, reason
        return batch

    def _replace(self, dead: _Worker) -> _Worker:
        # Not waited for here: the request that next takes the new worker waits for its start.
        dead.stop()
        fresh = _Worker()
        with self._lock:
            self._all[self._all.index(dead)] = fresh
            self.restarts += 1
        return fresh

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.stop()
