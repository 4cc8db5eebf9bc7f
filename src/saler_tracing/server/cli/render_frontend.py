"""The report's "frontend" tables (see :mod:`saler_tracing.server.query.frontend`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

VITALS = ("LCP", "INP", "CLS", "TTFB")
_STYLE = {"good": "green", "needs improvement": "yellow", "poor": "red"}


def frontend_tables(
    section: dict[str, Any] | None, table: Any, number: dict[str, Any]
) -> list[Table]:
    """Nothing when no browser spans were seen (a backend-only installation)."""
    if not section or not any(section.values()):
        return []
    loads = table("Frontend: page loads (ms)")
    for col in ("service", "page"):
        loads.add_column(col, overflow="fold")
    for col in ("loads", "P50", "P75", "P95"):
        loads.add_column(col, **number)
    for p in section["page_loads"]:
        loads.add_row(
            p["service"],
            p["page"],
            str(p["loads"]),
            f"{p['p50_ms']:.0f}",
            f"{p['p75_ms']:.0f}",
            f"{p['p95_ms']:.0f}",
        )
    vitals = table("Frontend: Web Vitals, P75 by page (Core Web Vitals rating)")
    vitals.add_column("page", overflow="fold")
    for name in VITALS:
        vitals.add_column(name + (" ms" if name != "CLS" else ""), **number)
    for p in section["vitals"]:
        cells = []
        for name in VITALS:
            v = p["vitals"].get(name)
            if v is None:
                cells.append("")
                continue
            text = f"{v['p75']:.2f}" if name == "CLS" else f"{v['p75']:.0f}"
            cells.append(
                f"[{_STYLE.get(v['rating'], '')}]{text}[/]" if v["rating"] in _STYLE else text
            )
        vitals.add_row(p["page"], *cells)
    fetches = table("Frontend: slowest fetches by backend route (ms)")
    for col in ("backend", "route"):
        fetches.add_column(col, overflow="fold")
    for col in ("fetches", "P50", "P95", "server P95"):
        fetches.add_column(col, **number)
    for f in section["slowest_fetches"]:
        server = "" if f["server_p95_ms"] is None else f"{f['server_p95_ms']:.0f}"
        fetches.add_row(
            f["backend"],
            f["route"],
            str(f["fetches"]),
            f"{f['p50_ms']:.0f}",
            f"{f['p95_ms']:.0f}",
            server,
        )
    return [loads, vitals, fetches]
