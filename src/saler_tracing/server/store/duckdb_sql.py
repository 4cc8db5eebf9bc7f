"""The DuckDB tables and the INSERT that fills ``spans`` from an incoming Arrow batch."""

from __future__ import annotations

from saler_tracing.server import normalize
from saler_tracing.server.model import COLUMN_NAMES, COLUMNS, DERIVED
from saler_tracing.server.store import reader_sql


def schema_sql() -> str:
    cols = ", ".join(f"{name} {sql_type}" for name, sql_type in COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS spans ({cols});"
        " CREATE TABLE IF NOT EXISTS resources (resource_key UBIGINT, resource VARCHAR)"
    )


# One row per resource (per process configuration: the table stays tiny). The writer knows the
# keys it holds and adds new ones only; a key is the decoder's hash of the resource's JSON.
KNOWN_RESOURCES = "SELECT DISTINCT resource_key FROM resources"
INSERT_RESOURCE = "INSERT INTO resources VALUES (?, ?)"
# A span row with its resource JSON, for reading spans back whole.
SPANS_WITH_RESOURCE = (
    "spans s LEFT JOIN (SELECT resource_key, any_value(resource) AS resource FROM resources"
    " GROUP BY resource_key) r ON r.resource_key = s.resource_key"
)


def insert_sql() -> str:
    """INSERT … SELECT from the incoming batch, computing the derived columns in DuckDB: one
    ``json_extract_string`` with a list of paths parses each span's attributes once."""
    types = dict(COLUMNS)
    paths: list[str] = []
    derived: list[str] = []
    for name, keys in DERIVED.items():
        picks = []
        for key in keys:
            paths.append(reader_sql.json_path(key).replace("'", "''"))
            picks.append(f"_d[{len(paths)}]")
        expr = f"coalesce({', '.join(picks)})" if len(picks) > 1 else picks[0]
        cast = expr if types[name] == "VARCHAR" else f"TRY_CAST({expr} AS {types[name]})"
        derived.append(f"{cast} AS {name}")
    computed = {
        "duration_ns": "greatest(end_ns - start_ns, 0)",
        "db_statement_norm": normalize.statement_sql("db_statement"),
    }
    # Two levels: the normalised statement first, then its hash from it.
    first = ", ".join(
        name if name not in computed else f"{computed[name]} AS {name}"
        for name in COLUMN_NAMES
        if name != "statement_key"
    )
    path_list = ", ".join(f"'{p}'" for p in paths)
    return (
        f"INSERT INTO spans SELECT *, hash(db_statement_norm) FROM (SELECT {first} FROM"
        f" (SELECT *, {', '.join(derived)} FROM"
        f" (SELECT *, json_extract_string(attributes, [{path_list}]) AS _d FROM _incoming)))"
    )
