"""Security events from sign-in failures, in bounded memory.

Fixed windows per key (an account's pseudonym, a client address): the count, or the distinct
accounts, seen since the key's window opened; a window older than ``window_s`` starts afresh
at the next failure. A kind fires once per key and window, when its threshold is reached (so a
flood gives one event, not thousands). At most ``max_keys`` keys per table: the least recently
failing key is forgotten and counted in ``saler_tracing_security_keys_evicted_total{table}``,
so an attacker rotating addresses costs memory no more than the cap, and the loss is visible.

Kinds: ``brute_force`` (failures for one account), ``address_failures`` (failures from one
address), ``credential_stuffing`` (distinct accounts failing from one address), and
``token_tampering`` (tokens rejected for their signature or audience; fired by the PyJWT
hook, not counted here).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from prometheus_client import Counter

from saler_tracing._internal.metrics import prom


def _evicted() -> Counter:
    return prom.counter(
        "saler_tracing_security_keys_evicted",
        "Accounts or addresses the security windows forgot early (key cap reached)",
        ("table",),
    )


class _Window:
    __slots__ = ("count", "fired", "members", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0
        self.members: set[str] = set()
        self.fired = False

    def reached(self, value: int, threshold: int) -> bool:
        """True once per window: when ``value`` first reaches ``threshold``."""
        if self.fired or value < threshold:
            return False
        self.fired = True
        return True


class WindowTable:
    """Per-key fixed windows, at most ``max_keys`` keys, least recently used evicted."""

    def __init__(self, name: str, window_s: float, max_keys: int, max_members: int) -> None:
        self.name = name
        self.window_s = window_s
        self.max_keys = max_keys
        self.max_members = max_members
        self._keys: OrderedDict[str, _Window] = OrderedDict()

    def add(self, key: str, now: float, member: str | None = None) -> _Window:
        """Count one failure for ``key`` (and ``member``); its current window."""
        window = self._keys.get(key)
        if window is None or now - window.start >= self.window_s:
            window = _Window(now)
            self._keys[key] = window
        self._keys.move_to_end(key)
        window.count += 1
        if member is not None and len(window.members) < self.max_members:
            window.members.add(member)  # bounded: past the threshold the exact number is moot
        evicted = 0
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
            evicted += 1
        if evicted:
            _evicted().labels(self.name).inc(evicted)
        return window

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class Thresholds:
    window_s: float = 300.0
    account_failures: int = 5
    address_failures: int = 20
    address_accounts: int = 10
    max_keys: int = 10_000


class SecurityMonitor:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = t = thresholds or Thresholds()
        self._lock = threading.Lock()
        self._accounts = WindowTable("account", t.window_s, t.max_keys, 0)
        self._addresses = WindowTable("address", t.window_s, t.max_keys, 0)
        self._spread = WindowTable("address_accounts", t.window_s, t.max_keys, t.address_accounts)

    def failure(self, account: str | None, address: str | None) -> list[tuple[str, int]]:
        """Record one failed attempt; the kinds whose threshold it reached, with the count."""
        t = self.thresholds
        fired: list[tuple[str, int]] = []
        now = time.monotonic()
        with self._lock:
            if account is not None:
                window = self._accounts.add(account, now)
                if window.reached(window.count, t.account_failures):
                    fired.append(("brute_force", window.count))
            if address is not None:
                window = self._addresses.add(address, now)
                if window.reached(window.count, t.address_failures):
                    fired.append(("address_failures", window.count))
                if account is not None:
                    spread = self._spread.add(address, now, account)
                    if spread.reached(len(spread.members), t.address_accounts):
                        fired.append(("credential_stuffing", len(spread.members)))
        return fired

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {
                "account": len(self._accounts),
                "address": len(self._addresses),
                "address_accounts": len(self._spread),
            }
