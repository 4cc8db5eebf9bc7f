"""Scrape ``/metrics`` over HTTP and read samples from the parsed families."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Families = dict[str, Metric]


def scrape(base_url: str, path: str = "/metrics") -> Families:
    response = httpx.get(base_url + path, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: Families, sample: str, **labels: str) -> float:
    """Sum of the samples named ``sample`` whose labels include ``labels``."""
    total = 0.0
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def label_values(families: Families, sample: str, label: str, **labels: str) -> set[str]:
    return {
        s.labels[label]
        for family in families.values()
        for s in family.samples
        if s.name == sample
        and label in s.labels
        and all(s.labels.get(k) == v for k, v in labels.items())
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
