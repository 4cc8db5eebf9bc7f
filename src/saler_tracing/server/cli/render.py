"""Rich rendering for the CLI: report tables and the terminal waterfall."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from saler_tracing.server.cli.render_frontend import frontend_tables


def _when(ns: int, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime(fmt)


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _table(title: str) -> Table:
    # Light rules and one space between columns: the tables fit an 80-column terminal.
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0)
    )


def _whole(texts: list[str], most: int = 20) -> dict[str, Any]:
    """Column options for names (routes, services): never cut with an ellipsis; one longer
    than the line allows wraps onto the next (``fold``). Numbers and times never wrap."""
    return {"min_width": min(most, max((len(t) for t in texts), default=1)), "overflow": "fold"}


NUMBER: dict[str, Any] = {"justify": "right", "no_wrap": True}


def _with_examples(table: Table, traces: list[str]) -> Any:
    """``table`` and, under it, the example trace ids the rows point to (``[1]``…), whole and
    one a line: in a cell, a table too wide for the terminal makes rich crop a folded id, and
    a trace id missing characters finds nothing."""
    shown = [(i, tid) for i, tid in enumerate(traces, 1) if tid]
    if not shown:
        return table
    lines = Text("Example traces (saler-trace trace ID):\n", style="bold")
    for i, tid in shown:
        lines.append(f"  [{i}] {tid}\n")
    return Group(table, lines)


def _ref(i: int, tid: str) -> str:
    return f"[{i}]" if tid else ""


def report_tables(report: dict[str, Any]) -> Group:
    parts: list[Any] = []
    t = _table("Routes (latency in ms)")
    t.add_column("service", **_whole([r["service"] for r in report["routes"]], most=10))
    t.add_column("route", **_whole([r["route"] for r in report["routes"]]))
    for col in ("req", "req/s", "err", "P50", "P95", "P99"):
        t.add_column(col, **NUMBER)
    for r in report["routes"]:
        t.add_row(
            r["service"],
            r["route"],
            str(r["requests"]),
            f"{r['throughput_per_s']:.2f}",
            _pct(r["error_rate"]),
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
        )
    parts.append(t)
    t = _table("Service health")
    for col in ("service", "score", "previous", "requests", "errors"):
        t.add_column(col)
    for h in report["health"]:
        prev = "—" if h["previous_score"] is None else f"{h['previous_score']:.1f}"
        style = "red" if h["score"] < 70 else ("yellow" if h["score"] < 90 else "green")
        t.add_row(
            h["service"],
            Text(f"{h['score']:.1f}", style=style),
            prev,
            str(h["requests"]),
            str(h["errors"]),
        )
    parts.append(t)
    t = _table("Regressions")
    for col in ("service", "subject", "P95 ms", "before", "errors", "before", "flag"):
        t.add_column(col)
    for tr in report["trends"]["routes"] + report["trends"]["versions"]:
        if not tr["regressions"]:
            continue
        before: dict[str, Any] = tr["previous"] or {}
        t.add_row(
            tr["service"],
            tr["subject"],
            f"{tr['current']['p95_ms']:.1f}",
            f"{before.get('p95_ms', 0):.1f}",
            _pct(tr["current"]["error_rate"]),
            _pct(before.get("error_rate", 0)),
            Text(", ".join(tr["regressions"]), style="red"),
        )
    parts.append(t)
    t = _table("Error groups")
    t.add_column("service", **_whole([g["service"] for g in report["errors"]], 10), ratio=1)
    t.add_column("type", overflow="fold", min_width=8, ratio=1)
    t.add_column("message", overflow="fold", ratio=2, min_width=8)
    t.add_column("top frame", overflow="fold", ratio=1, min_width=8)
    t.add_column("count", **NUMBER)
    t.add_column("traces", **NUMBER)
    t.add_column("last seen", no_wrap=True)  # month-day hour:minute: the report spans hours
    t.add_column("ex.", no_wrap=True)
    examples = [(g["example_traces"] or [""])[0] for g in report["errors"]]
    for i, (g, tid) in enumerate(zip(report["errors"], examples, strict=True), 1):
        t.add_row(
            g["service"],
            g["exception_type"],
            g["message"][:60],
            g["top_frame"],
            str(g["count"]),
            str(g["traces"]),
            _when(g["last_seen_ns"], "%m-%d %H:%M"),
            _ref(i, tid),
        )
    parts.append(_with_examples(t, examples))
    for b in report["bottlenecks"]:
        t = Table(
            title=f"Bottleneck {b['service']} {b['route']} (requests ≥ "
            f"{b['threshold_ms']:.1f} ms, mean {b['mean_duration_ms']:.1f} ms)",
            title_justify="left",
        )
        t.add_column("component")
        t.add_column("ms per request", justify="right")
        t.add_column("share", justify="right")
        for name, ms in sorted(b["self_time_ms"].items(), key=lambda kv: -kv[1]):
            t.add_row(name, f"{ms:.1f}", _pct(b["share"][name]))
        parts.append(t)
    t = _table("Slow statements")
    t.add_column("service", **_whole([x["service"] for x in report["slow_statements"]]))
    t.add_column("db")
    t.add_column("statement", overflow="fold", ratio=1)
    for col in ("calls", "total ms", "P95 ms"):
        t.add_column(col, **NUMBER)
    for s in report["slow_statements"]:
        t.add_row(
            s["service"],
            s["db_system"],
            s["statement"][:200],
            str(s["calls"]),
            f"{s['total_ms']:.1f}",
            f"{s['p95_ms']:.1f}",
        )
    parts.append(t)
    t = _table("N+1 patterns")
    # Every text column shares the width by ratio, so the table always fits the terminal and
    # the numbers, which never wrap, are never cut.
    t.add_column("service", **_whole([p["service"] for p in report["n_plus_one"]], 10), ratio=1)
    t.add_column("parent", **_whole([p["parent"] for p in report["n_plus_one"]], 12), ratio=2)
    t.add_column("statement", overflow="fold", ratio=2, min_width=10)
    t.add_column("traces", **NUMBER)
    t.add_column("repeats", **NUMBER)
    t.add_column("ex.", no_wrap=True)
    examples = [p["example_trace"] or "" for p in report["n_plus_one"]]
    for i, (p, tid) in enumerate(zip(report["n_plus_one"], examples, strict=True), 1):
        t.add_row(
            p["service"],
            p["parent"],
            p["statement"][:60],
            str(p["traces"]),
            str(p["max_repeats"]),
            _ref(i, tid),
        )
    parts.append(_with_examples(t, examples))
    dm = report["dependency_map"]
    t = _table("Dependencies")
    for col in ("from", "to", "calls", "errors", "P95 ms"):
        t.add_column(col)
    for e in dm["edges"]:
        t.add_row(
            e["source"], e["target"], str(e["calls"]), _pct(e["error_rate"]), f"{e['p95_ms']:.1f}"
        )
    parts.append(t)
    parts.extend(frontend_tables(report.get("frontend"), _table, NUMBER))
    return Group(*parts)


def traces_table(traces: list[dict[str, Any]]) -> Table:
    t = Table(title=f"{len(traces)} traces", title_justify="left")
    for col in ("trace id", "start", "root", "duration ms", "spans", "errors", "services"):
        t.add_column(col)
    for tr in traces:
        t.add_row(
            tr["trace_id"],
            _when(tr["start_ns"]),
            f"{tr['root_service']} {tr['root_name']}",
            f"{tr['duration_ms']:.1f}",
            str(tr["span_count"]),
            Text(str(tr["error_count"]), style="red" if tr["error_count"] else ""),
            ", ".join(tr["services"]),
        )
    return t


def waterfall(
    spans: list[dict[str, Any]], width: int = 40, logs: list[dict[str, Any]] | None = None
) -> Table:
    """Spans in tree order, each with a bar placed on the trace's time axis, and under each
    span its log records (level, time into the trace, message), a mark at their time."""
    by_span: dict[str, list[dict[str, Any]]] = {}
    for line in logs or ():
        by_span.setdefault(line["span_id"], []).append(line)
    by_parent: dict[str, list[dict[str, Any]]] = {}
    ids = {s["span_id"] for s in spans}
    for s in spans:
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else ""
        by_parent.setdefault(parent, []).append(s)
    start = min(s["start_ns"] for s in spans)
    total = max(1, max(s["end_ns"] for s in spans) - start)
    t = Table(title=f"trace {spans[0]['trace_id']}  {total / 1e6:.1f} ms", title_justify="left")
    t.add_column("span")
    t.add_column("service")
    t.add_column("ms", justify="right")
    t.add_column("timeline", no_wrap=True)
    stack = [(s, 0) for s in reversed(by_parent.get("", []))]
    while stack:
        s, depth = stack.pop()
        a = int((s["start_ns"] - start) / total * width)
        b = max(a + 1, int((s["end_ns"] - start) / total * width))
        bar = Text(" " * a)
        bar.append("█" * (b - a), style="red" if s["status"] == "ERROR" else "cyan")
        label = Text("  " * depth + s["name"], style="red" if s["status"] == "ERROR" else "")
        t.add_row(label, s["service"], f"{s['duration_ms']:.2f}", bar)
        for line in by_span.get(s["span_id"], ()):
            t.add_row(*_log_row(line, depth, start, total, width))
        for child in reversed(sorted(by_parent.get(s["span_id"], []), key=lambda c: c["start_ns"])):
            stack.append((child, depth + 1))
    return t


def _log_row(
    line: dict[str, Any], depth: int, start: int, total: int, width: int
) -> tuple[Text, str, str, Text]:
    style = "red" if line["severity_number"] >= 17 else "yellow"
    at = min(width - 1, max(0, int((line["time_ns"] - start) / total * width)))
    label = Text("  " * (depth + 1) + "↳ ", style="dim")
    label.append(f"{line['severity_text'] or 'LOG'} ", style=style)
    label.append(line["body"])
    when = f"@{(line['time_ns'] - start) / 1e6:.2f}"
    return label, "", when, Text(" " * at + "◆", style=style)


def print_to(console: Console, renderable: Any) -> None:
    console.print(renderable)
