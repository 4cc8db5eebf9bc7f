"""What a statement span says about its engine, computed once per engine and kept."""

from __future__ import annotations

from typing import Any

from opentelemetry.util.types import AttributeValue

from saler_tracing._internal.instrument import dependencies
from saler_tracing._internal.instrument.dependencies import Edge
from saler_tracing._internal.instrument.kit import PerObject
from saler_tracing._internal.instrument.sql.text import SqlShape

Described = tuple[SqlShape, str, dict[str, AttributeValue]]
"""A statement as its span shows it: its shape, the span name, the attributes it starts with."""

# SQLAlchemy dialect name → ``db.system.name`` (semantic conventions' well-known values).
_SYSTEMS = {
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mariadb",
    "mssql": "microsoft.sql_server",
    "oracle": "oracle.db",
}
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


class EngineInfo:
    __slots__ = ("attributes", "edge", "namespace", "peer", "statements", "system")

    def __init__(self, engine: Any) -> None:
        url = engine.url
        dialect = engine.dialect.name
        self.system: str = _SYSTEMS.get(dialect, dialect)
        self.namespace: str = url.database or ""
        attrs: dict[str, AttributeValue] = {"db.system.name": self.system}
        if self.namespace:
            attrs["db.namespace"] = self.namespace
        if url.host:
            port = url.port or _DEFAULT_PORTS.get(dialect)
            attrs["server.address"] = url.host
            if port:
                attrs["server.port"] = port
            self.peer = f"{self.system}://{url.host}:{port}/{self.namespace}"
        else:
            self.peer = f"{self.system}://{self.namespace or ':memory:'}"
        self.attributes = attrs
        self.edge: Edge = dependencies.edge(dependencies.DATABASE, self.system, self.peer)
        # Raw statement → how its span looks (``events.describe``): an application runs a
        # few dozen statements over and over, and the name and attributes are the same each
        # time. Read and written without a lock (single dict operations); bounded there.
        self.statements: dict[str, Described] = {}


engine_info: PerObject[EngineInfo] = PerObject(EngineInfo)
