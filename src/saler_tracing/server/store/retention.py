"""Retention: by age, then by size (oldest spans first), on the writer's connection; then the
resources no span uses any more. Log records older than the oldest span kept go with them: a
size budget counts the log table's blocks too, so deleting spans alone could leave it over."""

from __future__ import annotations

import logging
from typing import Any

from saler_tracing.server.store.seam import Retention

logger = logging.getLogger("saler_tracing.server")


def _row(con: Any, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row, the result read to its end: DuckDB refuses ``register`` (the writer's next
    insert) on a connection whose last result was left half-read, as ``fetchone`` leaves it."""
    rows = con.execute(sql, params or []).fetchall()
    return tuple(rows[0]) if rows else None


def used_bytes(con: Any) -> int:
    """Bytes the database's live blocks take (freed blocks are reused, so this is what grows)."""
    row = _row(con, "SELECT block_size, used_blocks FROM pragma_database_size()")
    on_disk = int(row[0] or 0) * int(row[1] or 0) if row else 0
    if on_disk:
        return on_disk
    # An in-memory database has no blocks on disk: count the memory its data holds.
    mem = _row(con, "SELECT sum(memory_usage_bytes) FROM duckdb_memory()")
    return int(mem[0] or 0) if mem else 0


def apply_retention(con: Any, policy: Retention, now_ns: int) -> int:
    deleted = 0
    if policy.max_age_s is not None:
        cutoff = now_ns - int(policy.max_age_s * 1e9)
        deleted += _delete_before(con, cutoff)
        _delete_logs_before(con, cutoff)
        # Spans dated further ahead than they are kept: no clock is that wrong, and the receiver
        # has moved such spans back since it checks; older databases may hold some, which age
        # alone would keep for ever.
        row = _row(
            con, "DELETE FROM spans WHERE start_ns > ?", [now_ns + int(policy.max_age_s * 1e9)]
        )
        deleted += int(row[0]) if row else 0
    if policy.max_bytes is not None:
        con.execute("CHECKPOINT")
        used = used_bytes(con)
        if used > policy.max_bytes:
            # Keep the newest share that fits in 80 % of the budget: some headroom, so the
            # next check does not delete again at once.
            keep = 0.8 * policy.max_bytes / used
            row = _row(con, "SELECT quantile_disc(start_ns, ?) FROM spans", [max(0.0, 1.0 - keep)])
            if row and row[0] is not None:
                deleted += _delete_before(con, int(row[0]))
                _delete_logs_before(con, int(row[0]))
                con.execute("CHECKPOINT")
    if deleted:
        pruned = _row(con, _PRUNE_RESOURCES)
        logger.info(
            "saler-trace retention: deleted %d spans, %d resources",
            deleted,
            int(pruned[0]) if pruned else 0,
        )
    return deleted


# NOT EXISTS rather than NOT IN: a span without a resource key must not keep every row.
_PRUNE_RESOURCES = (
    "DELETE FROM resources r WHERE NOT EXISTS"
    " (SELECT 1 FROM spans s WHERE s.resource_key = r.resource_key)"
)


def _delete_logs_before(con: Any, cutoff_ns: int) -> int:
    """Log records older than ``cutoff_ns`` (none in a database made before logs were kept)."""
    exists = _row(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'logs'")
    if not exists or not exists[0]:
        return 0
    row = _row(con, "DELETE FROM logs WHERE time_ns < ?", [cutoff_ns])
    gone = int(row[0]) if row else 0
    if gone:
        logger.info("saler-trace retention: deleted %d log records", gone)
    return gone


def _delete_before(con: Any, cutoff_ns: int) -> int:
    row = _row(con, "DELETE FROM spans WHERE start_ns < ?", [cutoff_ns])
    return int(row[0]) if row else 0
