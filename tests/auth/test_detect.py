"""The security windows: thresholds fire once per window, memory stays within the key cap and
every forgotten key is counted."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from saler_tracing._internal.instrument.auth.detect import SecurityMonitor, Thresholds


def test_each_kind_fires_once_per_window() -> None:
    monitor = SecurityMonitor(
        Thresholds(account_failures=3, address_failures=4, address_accounts=2)
    )
    fired = [monitor.failure("acct-a", "10.0.0.1") for _ in range(6)]
    assert fired[2] == [("brute_force", 3)]
    assert fired[3] == [("address_failures", 4)]
    assert [f for f in fired if f] == [[("brute_force", 3)], [("address_failures", 4)]]
    assert monitor.failure("acct-b", "10.0.0.1") == [("credential_stuffing", 2)]
    assert monitor.failure("acct-c", "10.0.0.1") == []  # already fired in this window


def test_a_new_window_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    monitor = SecurityMonitor(Thresholds(window_s=60, account_failures=2))
    assert monitor.failure("a", None) == []
    now[0] += 61  # the first failure left the window
    assert monitor.failure("a", None) == []
    assert monitor.failure("a", None) == [("brute_force", 2)]


def test_keys_are_capped_and_evictions_counted(metrics_registry: CollectorRegistry) -> None:
    monitor = SecurityMonitor(Thresholds(max_keys=100, address_accounts=3))
    for i in range(1000):
        monitor.failure(f"account-{i}", f"10.0.{i // 250}.{i % 250}")
    assert monitor.sizes() == {"account": 100, "address": 100, "address_accounts": 100}
    evicted = {
        table: metrics_registry.get_sample_value(
            "saler_tracing_security_keys_evicted_total", {"table": table}
        )
        for table in ("account", "address", "address_accounts")
    }
    assert evicted == {"account": 900, "address": 900, "address_accounts": 900}
