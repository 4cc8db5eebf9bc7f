"""The on-disk spool: encoded batches kept while the receiver stays down.

One file a batch, named so that names sort in creation order
(``<time_ns>-<pid>-<seq>-<roots>.spool``; ``roots``, the local root spans in the batch, lets a
batch dropped from disk count its traces too — files named without it count none), written to a
temporary name and renamed, so a crash never leaves a half-written batch under a real name. A
file is: the magic ``SALERSP1``, a header (span count, payload length, CRC-32 of the payload)
and the payload, an ``ExportTraceServiceRequest`` ready to send again.

Bounded by ``max_bytes``: adding a batch past the cap deletes the oldest files first and counts
their spans as dropped (``queue_full``: the spool is the queue's overflow). Several processes
(workers of one server) may share one directory: a process claims a file before sending it by
renaming it to ``….<pid>.claimed`` (atomic), so two processes do not send the same file; files
claimed by a process that died are taken back at start-up.

Nothing here raises: a directory that cannot be created or written (read-only, a file in the
way, a full disk) makes :meth:`Spool.put` return ``False``; the reason is logged (once a
reason) and counted in ``monitor.spool_errors``; the caller keeps the batch in memory. A
corrupt or truncated file is skipped with a log line naming it, and deleted.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from saler_tracing._internal.export.monitor import ExportMonitor

logger = logging.getLogger("saler_tracing")

MAGIC = b"SALERSP1"
_HEADER = struct.Struct("<III")  # span count, payload length, crc32
SUFFIX = ".spool"


@dataclass
class SpooledBatch:
    path: Path
    count: int
    payload: bytes
    roots: int = 0


def roots_in(name: str) -> int:
    """Local root spans of the batch in file ``name`` (0 when its name does not say)."""
    stem = name.split(SUFFIX, 1)[0]
    parts = stem.split("-")
    return int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else 0


class Spool:
    def __init__(self, directory: str, max_bytes: int, monitor: ExportMonitor) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.monitor = monitor
        self._seq = itertools.count()
        self._logged: set[str] = set()
        self._files: list[tuple[str, int]] = []  # (name, size), oldest first
        self.bytes = 0
        self.usable = self._prepare()

    # -- setup --------------------------------------------------------------------------------

    def _prepare(self) -> bool:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._reclaim()
            self.rescan()
        except OSError as exc:
            self._error("cannot use the spool directory", exc)
            return False
        return True

    def _reclaim(self) -> None:
        """Take back files claimed by processes that are gone."""
        for path in self.dir.glob(f"*{SUFFIX}.*.claimed"):
            pid = int(path.name.rsplit(".", 2)[-2]) if path.name.count(".") >= 3 else 0
            if pid != os.getpid() and not _alive(pid):
                os.replace(path, self.dir / path.name.rsplit(".", 2)[0])

    def rescan(self) -> None:
        """Re-read the directory (other processes add files too)."""
        files = []
        for entry in os.scandir(self.dir):
            if entry.name.endswith(SUFFIX):
                try:
                    files.append((entry.name, entry.stat().st_size))
                except OSError:
                    continue  # taken by another process meanwhile
        files.sort()
        self._files = files
        self.bytes = sum(size for _, size in files)

    # -- writing ------------------------------------------------------------------------------

    def put(self, payload: bytes, count: int, roots: int = 0) -> bool:
        """Store one batch; ``False`` when it could not be written (the caller keeps it)."""
        if not self.usable:
            self.usable = self._prepare()
            if not self.usable:
                return False
        size = len(MAGIC) + _HEADER.size + len(payload)
        if size > self.max_bytes:
            return False
        self._make_room(size)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}-{roots}{SUFFIX}"
        tmp = self.dir / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(MAGIC + _HEADER.pack(count, len(payload), zlib.crc32(payload)) + payload)
            os.replace(tmp, self.dir / name)
        except OSError as exc:
            self._error("cannot write to the spool", exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return False
        self._files.append((name, size))
        self.bytes += size
        return True

    def _make_room(self, size: int) -> None:
        while self._files and self.bytes + size > self.max_bytes:
            name, old_size = self._files.pop(0)
            self.bytes -= old_size
            spans = self._count_in(self.dir / name)
            try:
                (self.dir / name).unlink()
            except OSError:
                continue  # another process took it: not ours to count
            self.monitor.drop("queue_full", spans)
            self.monitor.drop_traces("queue_full", roots_in(name))
            self.monitor.spool_dropped_spans += spans

    @staticmethod
    def _count_in(path: Path) -> int:
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(MAGIC) + _HEADER.size)
            if head[: len(MAGIC)] == MAGIC and len(head) == len(MAGIC) + _HEADER.size:
                return int(_HEADER.unpack(head[len(MAGIC) :])[0])
        except OSError:
            pass
        return 0

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._files)

    def claim_oldest(self) -> SpooledBatch | None:
        """The oldest readable batch, claimed by this process; corrupt files are skipped."""
        while self._files:
            name, size = self._files.pop(0)
            self.bytes -= size
            path = self.dir / name
            claimed = self.dir / f"{name}.{os.getpid()}.claimed"
            try:
                os.replace(path, claimed)
            except OSError:
                continue  # another process claimed it first
            batch = self._read(claimed)
            if batch is not None:
                return batch
        return None

    def _read(self, path: Path) -> SpooledBatch | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._error(f"cannot read spool file {path.name}", exc)
            return None
        reason = None
        head = len(MAGIC) + _HEADER.size
        if len(data) < head or data[: len(MAGIC)] != MAGIC:
            reason = "not a spool file or truncated header"
        else:
            count, length, crc = _HEADER.unpack(data[len(MAGIC) : head])
            payload = data[head:]
            if len(payload) != length:
                reason = f"truncated: {len(payload)} of {length} payload bytes"
            elif zlib.crc32(payload) != crc:
                reason = "checksum mismatch"
        if reason is not None:
            logger.warning("saler_tracing: skipping corrupt spool file %s (%s)", path, reason)
            self.monitor.spool_corrupt_files += 1
            path.unlink(missing_ok=True)
            return None
        return SpooledBatch(path, count, payload, roots_in(path.name))

    def done(self, batch: SpooledBatch) -> None:
        batch.path.unlink(missing_ok=True)

    def give_back(self, batch: SpooledBatch) -> None:
        """Un-claim a batch that could not be sent yet; it stays the oldest."""
        original = batch.path.name.rsplit(".", 2)[0]
        try:
            os.replace(batch.path, self.dir / original)
        except OSError:
            return
        size = len(MAGIC) + _HEADER.size + len(batch.payload)
        self._files.insert(0, (original, size))
        self.bytes += size

    def _error(self, what: str, exc: OSError) -> None:
        self.monitor.spool_errors += 1
        self.monitor.spool_last_error = f"{what}: {exc}"
        key = f"{what}:{exc.errno}"
        if key not in self._logged:
            self._logged.add(key)
            logger.warning(
                "saler_tracing: %s %s (%s); batches stay in memory, bounded by the queue",
                what,
                self.dir,
                exc,
            )


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
