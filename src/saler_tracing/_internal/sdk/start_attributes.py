"""Start attributes that our own instrumentation writes into its span itself.

The SDK cleans every attribute a span starts with, one by one under a lock, and does the
same for each ``set_attribute``: in ``bench_http --db``'s floor that is about 176,000
instructions a request for fourteen attributes (docs/export.md, "Start attributes written
into the span"). Attributes our instrumentation builds are already clean: non-empty string
keys and plain values. So they travel to ``start_span`` as :class:`StartAttributes`, which
samplers read as usual, our head sampler leaves out of its result (the span starts with no
attributes to clean), and the instrumentation then adds them to the started span in one step
with :func:`~saler_tracing._internal.sdk.private.add_attributes`, which falls back to the
SDK's own cleaning whenever a span limit or a value calls for it. Under another sampler the
SDK cleans them as always, and adding them again changes nothing.

Once the application adds a span processor of its own (``add_span_processor`` on the global
provider), its ``on_start`` must see a span's start attributes as with any SDK pipeline:
:attr:`Mode.handed_to_sdk` then makes our sampler hand them to the SDK, which cleans and sets
them before any ``on_start``, and the instrumentation no longer adds them a second time.
"""

from __future__ import annotations

from opentelemetry.util.types import AttributeValue


class StartAttributes(dict[str, AttributeValue]):
    """A span's start attributes, built by our instrumentation, added after the start."""

    __slots__ = ()


class Mode:
    """Who writes :class:`StartAttributes` into a span (process-wide, like the global
    provider the processors are added to)."""

    handed_to_sdk = False
    """``True`` once the application added a span processor: the sampler returns the start
    attributes and the SDK sets them before the processors' ``on_start``."""
