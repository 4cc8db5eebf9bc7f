"""Where the CLI reads from: the database file directly, or a running server's API.

DuckDB lets one process hold a database file for writing; while ``saler-trace serve`` runs,
the CLI asks it over HTTP instead (found by ``discovery``, or ``--url``), with the same token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from saler_tracing.server.model import SpanRecord
from saler_tracing.server.query.report import build_report
from saler_tracing.server.query.trace_logs import trace_logs
from saler_tracing.server.query.window import Window
from saler_tracing.server.store.seam import TraceQuery


class SourceError(RuntimeError):
    pass


class Source(Protocol):
    def report(self, since_s: float, progress: Callable[[str], None]) -> dict[str, Any]: ...
    def traces(self, query: TraceQuery) -> list[dict[str, Any]]: ...
    def trace(self, trace_id: str) -> list[dict[str, Any]]: ...
    def logs(self, trace_id: str) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class FileSource:
    def __init__(self, path: str) -> None:
        from saler_tracing.server.store.duckdb_store import DuckDBStore

        try:
            self.store = DuckDBStore(path, read_only=True)
        except Exception as exc:
            raise SourceError(
                f"cannot open {path}: {exc}. If `saler-trace serve` is running on it but"
                " left no live address beside it, ask it directly: --url http://127.0.0.1:4318"
            ) from None

    def report(self, since_s: float, progress: Callable[[str], None]) -> dict[str, Any]:
        return build_report(self.store, Window.last(self.store, since_s), progress=progress)

    def traces(self, query: TraceQuery) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.store.find_traces(query)]

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.store.get_trace(trace_id)]

    def logs(self, trace_id: str) -> list[dict[str, Any]]:
        return trace_logs(self.store.logs, trace_id)

    def close(self) -> None:
        self.store.close()


class HttpSource:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def _get(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        request = urllib.request.Request(self.url + path + query)
        if self.token:
            request.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 401:
                raise SourceError(
                    f"{self.url} wants a token: set SALER_TRACE_TOKEN or pass --token"
                ) from None
            raise SourceError(f"{self.url}{path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SourceError(f"cannot reach {self.url}: {exc}") from None

    def report(self, since_s: float, progress: Callable[[str], None]) -> dict[str, Any]:
        progress("report (server)")
        return dict(self._get("/api/report", [("since", str(since_s))]))

    def traces(self, query: TraceQuery) -> list[dict[str, Any]]:
        params = [
            (k, str(v))
            for k, v in asdict(query).items()
            if v is not None and k not in ("attributes", "min_duration_ms")
        ]
        if query.min_duration_ms is not None:
            params.append(("min_ms", str(query.min_duration_ms)))
        params += [("attr", f"{k}={v}") for k, v in query.attributes.items()]
        return list(self._get("/api/traces", params)["traces"])

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        doc = self._get("/api/traces/" + urllib.parse.quote(trace_id))
        return list(doc["spans"]) if doc else []

    def logs(self, trace_id: str) -> list[dict[str, Any]]:
        doc = self._get("/api/traces/" + urllib.parse.quote(trace_id))
        return list(doc.get("logs") or []) if doc else []

    def close(self) -> None:
        pass


def record_json(record: SpanRecord) -> dict[str, Any]:
    return record.to_json()
