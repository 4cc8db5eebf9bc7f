"""Self time along a trace's critical path, by component.

The critical path is walked backwards from the end of the request, as Jaeger's critical-path
view does: at each span, the child that finishes last before the current point is on the path;
the time no child covers is the span's own (self) time. Children running past their parent
(asynchronous work) are clipped to the parent; time a span spends after its own end, waiting
for a child that starts later (a message waiting in a queue), is queue wait.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from saler_tracing.server.model import CLIENT, PRODUCER

APPLICATION = "application"
DATABASE = "database"
CACHE = "cache"
HTTP = "outbound HTTP"
QUEUE = "queue wait"
COMPONENTS = (APPLICATION, DATABASE, CACHE, HTTP, QUEUE)
CACHE_SYSTEMS = frozenset({"redis", "memcached", "valkey", "hazelcast", "aerospike", "couchbase"})


@dataclass
class Node:
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    db_system: str | None
    children: list[Node]
    effective_end: int = 0


def component(node: Node) -> str:
    if node.db_system:
        return CACHE if node.db_system.lower() in CACHE_SYSTEMS else DATABASE
    if node.kind == PRODUCER:
        return QUEUE
    if node.kind == CLIENT:
        return HTTP
    return APPLICATION


def build(nodes: list[Node]) -> dict[str, Node]:
    by_id = {n.span_id: n for n in nodes}
    for n in nodes:
        parent = by_id.get(n.parent_span_id)
        if parent is not None and parent is not n:
            parent.children.append(n)
    # Effective end: a span "lasts" until its last descendant ends (iterative, no recursion
    # limit on deep traces): process in decreasing start order so children come first.
    for n in sorted(nodes, key=lambda x: x.start_ns, reverse=True):
        n.effective_end = max([n.end_ns, *(c.effective_end for c in n.children)])
    return by_id


def critical_path(root: Node) -> list[tuple[Node, int, int]]:
    """The critical path of ``root``'s request (``[root.start, root.end]``) as segments
    ``(span, low, high)``: in each, ``span`` was the one the request waited on."""
    segments: list[tuple[Node, int, int]] = []
    stack: list[tuple[Node, int, int]] = [(root, root.start_ns, root.end_ns)]
    while stack:
        node, low, high = stack.pop()
        t = high
        for child in sorted(node.children, key=lambda c: c.effective_end, reverse=True):
            if t <= low:
                break
            if child.start_ns >= t:
                continue
            c_end = min(child.effective_end, t)
            c_start = max(child.start_ns, low)
            if c_end <= c_start:
                continue
            if t > c_end:
                segments.append((node, c_end, t))
            stack.append((child, c_start, c_end))
            t = c_start
        if t > low:
            segments.append((node, low, t))
    return segments


def self_time_by_component(root: Node) -> dict[str, int]:
    """Nanoseconds per component on the critical path of ``root``'s request."""
    acc: dict[str, int] = defaultdict(int)
    for node, low, high in critical_path(root):
        inside = max(0, min(high, node.end_ns) - low)
        if inside:
            acc[component(node)] += inside
        if high - low > inside:
            acc[QUEUE] += high - low - inside
    return dict(acc)


def self_time(node: Node) -> int:
    """The span's own time: its duration less the time any child (clipped to it) runs."""
    busy, cursor = 0, node.start_ns
    for child in sorted(node.children, key=lambda c: c.start_ns):
        low, high = max(child.start_ns, cursor), min(child.end_ns, node.end_ns)
        if high > low:
            busy += high - low
            cursor = high
    return max(0, node.end_ns - node.start_ns - busy)
