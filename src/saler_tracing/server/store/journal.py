"""The acknowledgement's durability: every batch is appended to a journal before it is queued.

The writer stages batches for up to half a second before one large insert (large inserts cost
far less per span, see :mod:`.duckdb_writer`); a server that dies meanwhile would lose spans it
had answered 200 for. So :meth:`Journal.append` writes the batch (its resources as JSON, its
table in Arrow's IPC format — the decoder processes' own bytes when they sent them) to a segment
file before the receiver answers, and the writer, once everything up to a batch is inserted
(DuckDB's commit), calls :meth:`Journal.done`: the segments it covers are deleted. A start
replays what is left. A batch both inserted and left in the journal (a crash between the
commit and the deletion) is inserted twice: the writer's duplicate pass removes the copy, as it
does for an exporter's retry.

The journal is written, not fsynced: it survives the server process dying (SIGKILL, out of
memory, a crash), which is what the page cache outlives; an operating-system crash or power
loss can still lose the last few seconds the kernel had not written back. An fsync per request
would cost milliseconds a request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from saler_tracing.server.batch import SpanBatch

logger = logging.getLogger("saler_tracing.server")
_HEAD = struct.Struct("!4sII")  # magic, resource JSON bytes, IPC bytes
_MAGIC = b"STJ1"
_SUFFIX = ".seg"


def journal_path(db_path: str) -> Path:
    """The journal's directory beside the database file."""
    return Path(db_path + ".journal")


class Journal:
    """Segments ``<n>.seg`` in one directory; appends from any thread, :meth:`done` from the
    writer's."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seq = 0  # of the last batch appended
        self._closed: list[tuple[Path, int]] = []  # (segment, last batch in it)
        self._current: BinaryIO | None = None
        self._current_path: Path | None = None
        self._current_last = 0
        self._leftover = sorted(self.dir.glob(f"*{_SUFFIX}"))
        names = [int(p.stem) for p in self._leftover if p.stem.isdigit()]
        self._next_segment = max(names, default=0) + 1

    def replay(self) -> Iterator[SpanBatch]:
        """The batches a previous run journaled and never marked done, oldest first; a record
        cut short (the process died while writing it: it was never acknowledged) ends a file."""
        import pyarrow as pa  # type: ignore[import-untyped]

        for path in self._leftover:
            data = path.read_bytes()
            at = 0
            while at + _HEAD.size <= len(data):
                magic, n_res, n_ipc = _HEAD.unpack_from(data, at)
                end = at + _HEAD.size + n_res + n_ipc
                if magic != _MAGIC or end > len(data):
                    logger.warning("saler-trace: journal %s ends with a partial record", path)
                    break
                body = at + _HEAD.size
                resources = {int(k): v for k, v in json.loads(data[body : body + n_res]).items()}
                table = pa.ipc.open_stream(pa.py_buffer(data[body + n_res : end])).read_all()
                yield SpanBatch(table=table, resources=resources)
                at = end

    def forget_replayed(self) -> None:
        """Called once the replayed batches are in the database."""
        for path in self._leftover:
            path.unlink(missing_ok=True)
        self._leftover = []

    def append(self, batch: SpanBatch, ipc: Any = None) -> None:
        """Before the batch is queued, under the caller's lock (journal order = queue order).
        ``ipc``: the batch's table in Arrow IPC stream format, when the caller has it."""
        if ipc is None:
            batch.table = batch.to_arrow()  # converted once: the writer inserts this table
            ipc = _to_ipc(batch.table)
        resources = json.dumps({str(k): v for k, v in batch.resources.items()}).encode()
        with self._lock:
            if self._current is None:
                self._current_path = self.dir / f"{self._next_segment:012d}{_SUFFIX}"
                self._next_segment += 1
                self._current = open(self._current_path, "ab")  # noqa: SIM115
            self._current.write(_HEAD.pack(_MAGIC, len(resources), len(ipc)))
            self._current.write(resources)
            self._current.write(ipc)
            self._current.flush()  # into the page cache: outlives this process
            self._seq += 1
            self._current_last = self._seq

    def done(self, seq: int) -> None:
        """Every batch up to the ``seq``-th appended is in the database (or was refused by it):
        the segments holding only those go; the current one is closed so it can go next."""
        with self._lock:
            if self._current is not None and self._current_path is not None:
                self._current.close()
                self._closed.append((self._current_path, self._current_last))
                self._current = self._current_path = None
            keep = []
            for path, last in self._closed:
                if last <= seq:
                    path.unlink(missing_ok=True)
                else:
                    keep.append((path, last))
            self._closed = keep

    def close(self) -> None:
        """After the writer's last :meth:`done`: an empty journal leaves no directory behind."""
        with self._lock:
            if self._current is not None:
                self._current.close()
                self._current = None
            if not self._closed and not self._leftover:
                with contextlib.suppress(OSError):
                    for path in self.dir.glob(f"*{_SUFFIX}"):
                        if not path.stat().st_size:
                            path.unlink()
                    self.dir.rmdir()


def _to_ipc(table: Any) -> Any:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
