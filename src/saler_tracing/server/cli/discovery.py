"""How the CLI finds ``saler-trace serve`` running on the same database.

DuckDB lets one process hold a database file for writing, so while the server runs the CLI
must ask it over HTTP. The server records its address beside the database
(``<db>.server.json``: URL, process id, database path; never the token) once it accepts
connections, and removes the record when it stops. The CLI trusts a record only when the
process is alive and the address answers; a record left by a killed server is ignored. The
token comes from the environment (``SALER_TRACE_TOKEN``) or ``--token``, as with ``--url``.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SUFFIX = ".server.json"
_PROBE_TIMEOUT_S = 2.0


def record_path(db: str) -> Path | None:
    """Where the server on ``db`` records its address; ``None`` for an in-memory database."""
    if not db or db == ":memory:":
        return None
    return Path(db + SUFFIX)


def local_url(host: str, port: int) -> str:
    """The address a client on this machine uses for a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_record(db: str, url: str) -> Path | None:
    path = record_path(db)
    if path is None:
        return None
    doc = {"url": url, "pid": os.getpid(), "db": str(Path(db).resolve())}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(path)  # atomic: a reader never sees half a record
    return path


def remove_record(db: str) -> None:
    """Remove the record if it is still this process's (a newer server may have replaced it)."""
    path = record_path(db)
    if path is None:
        return
    doc = _read(path)
    if doc is not None and doc.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def running_server(db: str) -> str | None:
    """The URL of a live server on ``db``, or ``None`` (no record, or a stale one)."""
    path = record_path(db)
    doc = _read(path) if path is not None else None
    if doc is None:
        return None
    url, pid = doc.get("url"), doc.get("pid")
    if (
        not isinstance(url, str)
        or not isinstance(pid, int)
        or doc.get("db") != str(Path(db).resolve())
    ):
        return None
    if not _alive(pid) or not _answers(url):
        return None
    return url


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _answers(url: str) -> bool:
    """Any HTTP answer from the server's API counts (401 too: it wants a token)."""
    try:
        with urllib.request.urlopen(url + "/api/stats", timeout=_PROBE_TIMEOUT_S):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
