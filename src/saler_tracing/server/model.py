"""The span as the server keeps it: one flat row, columnar in batches.

The receiver decodes OTLP into a :class:`~saler_tracing.server.batch.SpanBatch`, the store
writes batches, readers hand back :class:`SpanRecord`. Frequently queried attributes are copied into
their own columns at ingest (``route``, ``db_statement``…) so analysis never parses JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# OTLP enums, kept as their wire numbers.
KIND_NAMES = {
    0: "UNSPECIFIED",
    1: "INTERNAL",
    2: "SERVER",
    3: "CLIENT",
    4: "PRODUCER",
    5: "CONSUMER",
}
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
STATUS_ERROR = 2

# (column, DuckDB type); order is the table's column order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("trace_state", "VARCHAR"),
    ("name", "VARCHAR"),
    ("kind", "UTINYINT"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("duration_ns", "BIGINT"),
    ("status_code", "UTINYINT"),
    ("status_message", "VARCHAR"),
    ("service", "VARCHAR"),
    ("service_version", "VARCHAR"),
    ("scope_name", "VARCHAR"),
    ("scope_version", "VARCHAR"),
    # The resource's JSON lives once in the ``resources`` table; every span of a process has
    # the same one, and writing it per span cost a third of the insert.
    ("resource_key", "UBIGINT"),
    ("attributes", "VARCHAR"),
    ("events", "VARCHAR"),
    ("links", "VARCHAR"),
    ("route", "VARCHAR"),
    ("http_method", "VARCHAR"),
    ("http_status", "INTEGER"),
    ("db_system", "VARCHAR"),
    ("db_statement", "VARCHAR"),
    ("db_statement_norm", "VARCHAR"),
    ("server_address", "VARCHAR"),
    ("peer_service", "VARCHAR"),
    ("messaging_system", "VARCHAR"),
    ("exc_type", "VARCHAR"),
    ("exc_message", "VARCHAR"),
    ("exc_frame", "VARCHAR"),
    ("received_ns", "BIGINT"),
    # Integer keys for joins and lookups (the low 64 bits of the trace id, the span ids):
    # comparing integers is far cheaper than comparing 32-character strings.
    ("trace_key", "UBIGINT"),
    ("span_key", "UBIGINT"),
    ("parent_key", "UBIGINT"),
    ("statement_key", "UBIGINT"),  # hash of db_statement_norm: group statements by integer
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)

# Derived columns: computed by the store from ``attributes`` (vectorised in the database, off
# the receiver's thread); the first key present wins (stable name first, then the older one).
DERIVED: dict[str, tuple[str, ...]] = {
    "route": ("http.route",),
    "http_method": ("http.request.method", "http.method"),
    "http_status": ("http.response.status_code", "http.status_code"),
    "db_system": ("db.system.name", "db.system"),
    "db_statement": ("db.query.text", "db.statement"),
    "server_address": ("server.address", "net.peer.name"),
    "peer_service": ("peer.service",),
    "messaging_system": ("messaging.system",),
}
# Computed by the store from other columns (the keys of ids and resources come with the batch:
# see :mod:`saler_tracing.server.batch`).
COMPUTED = ("duration_ns", "db_statement_norm", "statement_key")


def _non_finite(name: str) -> str:
    return name


def loads(text: str) -> Any:
    """A stored JSON column. A double attribute may be NaN or infinite (the SDKs send them);
    it is stored as Python writes it (``NaN``, ``Infinity``, not JSON) and read back as the
    string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` — the form proto3's JSON mapping and
    OTLP/JSON give non-finite doubles — so every reader (the API, the CLI's JSON, the web
    view) gets valid JSON."""
    return json.loads(text, parse_constant=_non_finite)


def trace_key(trace_id: str) -> int | None:
    """The ``trace_key`` column's value for a trace id; ``None`` when it is not 32 hex digits."""
    if len(trace_id) != 32:
        return None
    try:
        return int(trace_id[16:], 16)
    except ValueError:
        return None


@dataclass
class SpanRecord:
    """One stored span, JSON columns parsed."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    service: str
    service_version: str | None = None
    trace_state: str = ""
    scope_name: str = ""
    scope_version: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status_code, str(self.status_code))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SpanRecord:
        return cls(
            trace_id=row["trace_id"],
            span_id=row["span_id"],
            parent_span_id=row["parent_span_id"] or "",
            name=row["name"],
            kind=int(row["kind"]),
            start_ns=int(row["start_ns"]),
            end_ns=int(row["end_ns"]),
            status_code=int(row["status_code"]),
            status_message=row["status_message"] or "",
            service=row["service"],
            service_version=row["service_version"],
            trace_state=row["trace_state"] or "",
            scope_name=row["scope_name"] or "",
            scope_version=row["scope_version"] or "",
            resource=loads(row["resource"] or "{}"),
            attributes=loads(row["attributes"] or "{}"),
            events=loads(row["events"] or "[]"),
            links=loads(row["links"] or "[]"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "kind": self.kind_name,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "duration_ms": self.duration_ns / 1e6,
            "status": self.status_name,
            "status_message": self.status_message,
            "service": self.service,
            "service_version": self.service_version,
            "scope": self.scope_name,
            "resource": self.resource,
            "attributes": self.attributes,
            "events": self.events,
            "links": self.links,
        }
