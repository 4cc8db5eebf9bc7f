"""The pipeline stage: every ended span leaves here as a scrubbed copy.

It sits right before export (``stages.STAGES`` says why), so every exporter — OTLP, console,
the local server — sees only what it lets through. The span the application holds is never
touched: when something must change, a new :class:`ReadableSpan` is built from the old one's
parts; when nothing must, the same object is passed on (no copy, no cost).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes, AttributeValue

from saler_tracing._internal.chain import Stage
from saler_tracing._internal.scrub.scrubber import Scrubber
from saler_tracing._internal.sdk.private import (
    attributes_of,
    has_events,
    has_links,
    readable_copy,
    span_fields,
)

REPORT_KEY = "saler.scrubbed"
_COUNT_EVERY = 256  # scrubbed spans whose reports wait to be counted, at most


class _ScrubbedSpan(ReadableSpan):
    """A copy that keeps the original's dropped-attribute/event/link counts (a plain
    ``ReadableSpan`` built from parts reports zeros)."""

    def __init__(self, *args: object, dropped: tuple[int, int, int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


class ScrubStage(Stage):
    def __init__(self, next_stage: SpanProcessor, scrubber: Scrubber) -> None:
        super().__init__(next_stage)
        self.scrubber = scrubber
        self.spans_scrubbed = 0
        self.by_rule: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pending: deque[list[str]] = deque()  # reports of scrubbed spans not yet counted
        # Read by this stage's on_end and by the compiled chain (fused.py).
        self.quick = scrubber.quick_view()

    def figures(self) -> dict[str, object]:
        """For ``/api/v1/tracing/stats``: how much was redacted, by rule (never values)."""
        self._count()
        with self._lock:
            return {"spans_scrubbed": self.spans_scrubbed, "redactions": dict(self.by_rule)}

    def _count(self) -> None:
        pending = self._pending
        with self._lock:
            entries: list[str] = []
            spans = 0
            while pending:
                entries += pending.popleft()  # only ever taken under the lock: never empty
                spans += 1
            self.spans_scrubbed += spans
            # Each distinct ``key:rule`` once a batch, counted in C, then folded by rule.
            for entry, times in Counter(entries).items():
                self.by_rule[entry.rpartition(":")[2]] += times

    def on_end(self, span: ReadableSpan) -> None:
        # The common span is passed on in this one frame: its fields read once (the encoder
        # takes them from the same cache), no events, links or dropped counts, no status
        # description, a name seen clean before, and every attribute cleared by the
        # scrubber's compiled check (``Scrubber.quick_view``): what ``scrub`` would pass on
        # unchanged with nothing reported, without its two frames and the report it builds
        # (docs/privacy.md, "Cost"). Anything else, and every span when the compiled check
        # was not built: ``scrub``. A sampled child span the check clears does not reach
        # this method at all when the chain's compiled pass is installed (fused.py).
        quick = self.quick
        if quick is not None:
            fields = span_fields(span)
            if fields is not None and fields[7] is None and not fields[9]:
                to_check_by_keys, check, clean, harmless, statements = quick
                if fields[2] in clean:
                    attributes = fields[6]
                    to_check = to_check_by_keys.get(tuple(attributes))
                    if to_check is not None and (
                        not to_check
                        or check(attributes, to_check, clean, harmless, statements) == len(to_check)
                    ):
                        self.next.on_end(span)
                        return
        self.next.on_end(self.scrub(span))

    def scrub(self, span: ReadableSpan) -> ReadableSpan:
        # Most spans have no events, links or dropped counts: their fields are read in one
        # call (``span_fields``) instead of a dozen properties, and the copy is built from
        # them (``readable_copy``). The rest take the general path.
        fields = span_fields(span)
        if fields is None or fields[7] is not None:
            return self._scrub_any(span)
        report: list[str] = []
        name = fields[2]
        if name not in self.scrubber.clean_text:  # most names repeat: no call for them
            name = self._text("span.name", name, report)
        attributes = fields[6]
        attrs = self.scrubber.attributes(attributes, report)
        # The status only when it has a description to scrub or the span must be copied.
        status = self._status(span.status, report) if fields[9] else None
        if not report:
            return span
        if status is None:
            status = span.status
        return readable_copy(
            name,
            fields[0],  # context
            fields[1],  # parent
            fields[10],  # resource
            self._reported(attrs, attributes, report),
            fields[3],  # kind
            status,
            fields[4],  # start time
            fields[5],  # end time
            fields[11],  # instrumentation scope
        )

    def _scrub_any(self, span: ReadableSpan) -> ReadableSpan:
        report: list[str] = []
        name = self._text("span.name", span.name, report)
        attributes = attributes_of(span)
        attrs = self.scrubber.attributes(attributes, report)
        # Most spans have neither: do not let the SDK copy empty lists into tuples.
        span_events = span.events if has_events(span) else ()
        events = self._events(span_events, report) if span_events else None
        span_links = span.links if has_links(span) else ()
        links = self._links(span_links, report) if span_links else None
        status = span.status
        if status.description:
            status = self._status(status, report)
        if not report:
            return span
        return _ScrubbedSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=self._reported(attrs, attributes, report),
            events=events if events is not None else span_events,
            links=links if links is not None else span_links,
            kind=span.kind,
            status=status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
            dropped=(span.dropped_attributes, span.dropped_events, span.dropped_links),
        )

    def _text(self, where: str, text: str, report: list[str]) -> str:
        done = self.scrubber.search(text)
        if done is None:
            return text
        report.extend(f"{where}:{rule}" for rule in dict.fromkeys(done[1]))
        return done[0]

    def _status(self, status: Status, report: list[str]) -> Status:
        description = status.description or ""
        scrubbed = self._text("status.description", description, report)
        return status if scrubbed is description else Status(status.status_code, scrubbed)

    def _reported(
        self,
        attrs: dict[str, AttributeValue] | None,
        attributes: Mapping[str, AttributeValue],
        report: list[str],
    ) -> Mapping[str, AttributeValue]:
        """The copy's attributes, with the report; the report is counted for the figures."""
        # Counted later, in bulk: a deque append is atomic; a lock and counting each entry
        # per span measured about a tenth of scrubbing a span with three findings.
        pending = self._pending
        pending.append(report)
        if len(pending) >= _COUNT_EVERY:
            self._count()
        # ``attrs`` is already a fresh dict when an attribute changed.
        new_attrs = attrs if attrs is not None else dict(attributes)
        new_attrs[REPORT_KEY] = tuple(sorted(set(report)))
        return MappingProxyType(new_attrs)

    def _events(self, events: Sequence[Event], report: list[str]) -> list[Event] | None:
        out: list[Event] | None = None
        for index, event in enumerate(events):
            name = self._text("event.name", event.name, report)
            attrs = self.scrubber.attributes(event.attributes or {}, report)
            if attrs is None and name is event.name:
                continue
            if out is None:
                out = list(events)
            new_attrs: Attributes = MappingProxyType(
                attrs if attrs is not None else dict(event.attributes or {})
            )
            out[index] = Event(name, new_attrs, event.timestamp)
        return out

    def _links(self, links: Sequence[Link], report: list[str]) -> list[Link] | None:
        out: list[Link] | None = None
        for index, link in enumerate(links):
            attrs = self.scrubber.attributes(link.attributes or {}, report)
            if attrs is None:
                continue
            if out is None:
                out = list(links)
            out[index] = Link(link.context, MappingProxyType(attrs))
        return out
