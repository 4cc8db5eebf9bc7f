"""The webhook counters. Their names are a contract (alert rules select on them):
``saler_tracing_webhooks_received_total{provider,event,outcome}`` and
``saler_tracing_webhooks_sent_total{provider,event,outcome}``.

Event types come from signed payloads only, and at most 64 distinct ones per provider become
label values; later ones fold into ``__other__`` (counted by the label cap).
"""

from __future__ import annotations

from prometheus_client import Counter

from saler_tracing._internal.metrics import prom
from saler_tracing._internal.metrics.cardinality import LabelCap

_events = LabelCap(64)


def _received() -> Counter:
    return prom.counter(
        "saler_tracing_webhooks_received",
        "Webhook deliveries received, by provider, event type and signature outcome",
        ("provider", "event", "outcome"),
    )


def _sent() -> Counter:
    return prom.counter(
        "saler_tracing_webhooks_sent",
        "Webhook deliveries sent, by provider, event type and final outcome",
        ("provider", "event", "outcome"),
    )


def received(provider: str, event: str, outcome: str) -> None:
    _received().labels(provider, _events.bound("event", event, provider), outcome).inc()


def sent(provider: str, event: str, outcome: str) -> None:
    _sent().labels(provider, _events.bound("event", event, provider), outcome).inc()
