"""Decision counts reach Prometheus at scrape time and never go backwards across configures."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY

from tests.sampling.conftest import Pipeline

Make = Callable[..., Pipeline]


def _sample(name: str, labels: dict[str, str]) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_counts_are_scraped_and_carry_over_a_reconfigure(pipeline: Make) -> None:
    labels = {"decision": "unsampled", "reason": "probability"}
    before = _sample("saler_tracing_sampling_head_decisions_total", labels)
    p = pipeline(sampler="always_off")
    for _ in range(7):
        with p.tracer.start_as_current_span("x"):
            pass
    assert _sample("saler_tracing_sampling_head_decisions_total", labels) == before + 7
    dropped = {"outcome": "dropped", "reason": "head"}
    assert _sample("saler_tracing_sampling_traces_total", dropped) >= 7
    p = pipeline(sampler="always_off")  # a new pipeline: its own counts start at zero...
    with p.tracer.start_as_current_span("y"):
        pass
    assert p.sampling.telemetry.snapshot()["head"] == {"unsampled": {"probability": 1}}
    # ...while the process's Prometheus counter keeps counting from where it was.
    assert _sample("saler_tracing_sampling_head_decisions_total", labels) == before + 8
