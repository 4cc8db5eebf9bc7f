"""Decoding in worker processes, so ingest uses every core.

Decoding OTLP is Python work per span and holds the GIL; in the server's own process it caps
ingest at what one core decodes. Each worker (spawned, never forked from a threaded server)
owns one socket pair. The server's event loop sends it a body and awaits the Arrow table back
in Arrow's IPC format, which it reads without copying: no thread waits on a worker, and no
executor sits in between (a thread per request and a manager thread cost the server's process
more than the bytes themselves). The gRPC receiver's threads hand their bodies to the same loop.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import socket
import struct
import threading
from typing import Any

from saler_tracing.server.batch import SpanBatch
from saler_tracing.server.receiver.ingest import decode_body
from saler_tracing.server.receiver.refusals import BodyTooLarge, MalformedRequest

_MALFORMED, _TOO_LARGE, _OK = "malformed", "too_large", "ok"
_HANDOFF_TIMEOUT_S = 120.0
logger = logging.getLogger("saler_tracing.server")


_Options = tuple[bool, bool, int, int]  # as_json, gzipped, max_body, max_future_ns


def _work(body: bytes, options: _Options) -> tuple[tuple[Any, ...], Any]:
    """In the worker: ((result, error message, (rejected, clock adjusted, normalised), reason,
    resources), IPC payload)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    as_json, gzipped, max_body, max_future_ns = options
    try:
        batch = decode_body(
            body,
            as_json=as_json,
            gzipped=gzipped,
            max_body=max_body,
            max_future_ns=max_future_ns,
        )
        table = batch.to_arrow()
    except MalformedRequest as exc:
        return (_MALFORMED, str(exc), (0, 0, 0), "", {}), b""
    except BodyTooLarge as exc:
        return (_TOO_LARGE, str(exc), (0, 0, 0), "", {}), b""
    except Exception as exc:
        # A request the validation missed must cost that request, never the process (its
        # respawn cost every other client's requests meanwhile).
        logger.exception("saler-trace: a request failed to decode")
        return (_MALFORMED, f"request could not be decoded: {exc}", (0, 0, 0), "", {}), b""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    counts = (batch.rejected, batch.clock_adjusted, batch.normalised)
    return (_OK, "", counts, batch.reject_reason, batch.resources), sink.getvalue()


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


def _frame(data: bytes | memoryview) -> bytes:
    """A message as ``multiprocessing.Connection.send_bytes`` frames it."""
    n = len(data)
    if n > 0x7FFFFFFF:
        return struct.pack("!i", -1) + struct.pack("!Q", n)
    return struct.pack("!i", n)


class _Worker:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(child, os.getpid()), name="saler-trace-decoder", daemon=True
        )
        self.process.start()
        child.close()
        # The event loop's view of the same socket (non-blocking once the worker is up).
        self.sock = socket.socket(fileno=os.dup(self.conn.fileno()))
        self.started = False  # its first message, sent once its imports are done, unread

    async def _read(self, loop: Any, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = await loop.sock_recv_into(self.sock, view[got:])
            if not k:
                raise EOFError("decoder process closed its socket")
            got += k
        return buf

    async def receive(self, loop: Any) -> bytearray:
        (n,) = struct.unpack("!i", await self._read(loop, 4))
        if n == -1:
            (n,) = struct.unpack("!Q", await self._read(loop, 8))
        return await self._read(loop, n)

    async def exchange(self, loop: Any, body: bytes, options: _Options) -> Any:
        if not self.started:
            if pickle.loads(await self.receive(loop)) != _OK:
                raise EOFError("decoder process did not start")
            self.started = True
        head = pickle.dumps(options)
        await loop.sock_sendall(self.sock, _frame(head) + head + _frame(body))
        await loop.sock_sendall(self.sock, body)
        header = pickle.loads(await self.receive(loop))
        return header, await self.receive(loop)

    def stop(self) -> None:
        self.sock.close()
        self.conn.close()  # the worker's recv ends: it returns
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class DecodePool:
    """Workers used from the event loop bound with :meth:`bind` (the HTTP receiver's), by
    :meth:`decode_async` there and :meth:`decode` from other threads (the gRPC receiver's)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.restarts = 0
        self._loop: Any = None
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all = [_Worker() for _ in range(workers)]
        for worker in self._all:  # started now, imports included, not on the first request
            if not worker.conn.poll(120) or worker.conn.recv() != _OK:
                raise RuntimeError("saler-trace: a decoder process did not start")
            worker.started = True
            worker.sock.setblocking(False)

    def bind(self, loop: Any) -> None:
        """Called on ``loop`` (the ASGI lifespan's startup)."""
        self._loop = loop
        self._idle = asyncio.Queue()
        for worker in self._all:
            self._idle.put_nowait(worker)

    def unbind(self) -> None:
        """Called at the lifespan's shutdown: from now on other threads decode inline."""
        self._loop = None

    def decode(
        self, body: bytes, *, as_json: bool, gzipped: bool, max_body: int, max_future_ns: int
    ) -> SpanBatch:
        """From a thread other than the loop's; inline when no loop runs (not yet, or no more)."""
        loop = self._loop
        options: dict[str, Any] = {
            "as_json": as_json,
            "gzipped": gzipped,
            "max_body": max_body,
            "max_future_ns": max_future_ns,
        }
        if loop is not None and loop.is_running():
            coro = self.decode_async(body, **options)
            try:
                future = asyncio.run_coroutine_threadsafe(coro, loop)
            except RuntimeError:  # the loop closed meanwhile
                coro.close()
            else:
                # Bounded: a loop that stops between the check and the call never runs it.
                return future.result(timeout=_HANDOFF_TIMEOUT_S)
        return decode_body(body, **options)

    async def decode_async(
        self, body: bytes, *, as_json: bool, gzipped: bool, max_body: int, max_future_ns: int
    ) -> SpanBatch:
        import pyarrow as pa

        loop = asyncio.get_running_loop()
        assert self._idle is not None, "DecodePool.bind() first"
        worker = await self._idle.get()
        try:
            header, payload = await worker.exchange(
                loop, body, (as_json, gzipped, max_body, max_future_ns)
            )
        except BaseException as exc:
            # The worker died (killed, out of memory) or the exchange was cut short: either
            # way its socket is in an unknown state, so it is replaced; a lost process never
            # fails the request, which is decoded here.
            self._idle.put_nowait(await loop.run_in_executor(None, self._replace, worker))
            if not isinstance(exc, (EOFError, OSError)):
                raise
            logger.warning("saler-trace: a decoder process died; started another")
            return await loop.run_in_executor(
                None,
                lambda: decode_body(
                    body,
                    as_json=as_json,
                    gzipped=gzipped,
                    max_body=max_body,
                    max_future_ns=max_future_ns,
                ),
            )
        self._idle.put_nowait(worker)
        result, message, counts, reason, resources = header
        if result == _MALFORMED:
            raise MalformedRequest(message)
        if result == _TOO_LARGE:
            raise BodyTooLarge(message)
        batch = SpanBatch(table=pa.ipc.open_stream(pa.py_buffer(payload)).read_all())
        batch.ipc = payload  # the store's journal writes these bytes as they are
        batch.rejected, batch.clock_adjusted, batch.normalised = counts
        batch.reject_reason, batch.resources = reason, resources
        return batch

    def _replace(self, dead: _Worker) -> _Worker:
        # Not waited for here: its first exchange reads its start message.
        dead.stop()
        fresh = _Worker()
        fresh.sock.setblocking(False)
        self._all[self._all.index(dead)] = fresh
        self.restarts += 1
        return fresh

    def close(self) -> None:
        for worker in list(self._all):
            worker.stop()
