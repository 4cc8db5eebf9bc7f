"""The integration kit's install-once state: one install, a clean undo, nothing half-applied."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from saler_tracing._internal.instrument.kit import Patches


def _library() -> Any:
    return SimpleNamespace(send=lambda: "sent", receive=lambda: "received")


def _traced(original: Any) -> Any:
    return lambda: "traced " + original()


def test_install_patches_once_and_uninstall_restores_the_originals() -> None:
    lib = _library()
    patches = Patches()
    calls: list[int] = []

    def apply(p: Patches) -> None:
        calls.append(1)
        p.patch(lib, "send", _traced)
        p.patch(lib, "receive", _traced)

    assert patches.install(apply)
    assert not patches.install(apply)  # idempotent: the second instrument_* changes nothing
    assert calls == [1]
    assert lib.send() == "traced sent" and lib.receive() == "traced received"
    assert patches.uninstall()
    assert lib.send() == "sent" and lib.receive() == "received"
    assert not patches.uninstall()
    assert patches.install(apply)  # and it can be installed again
    assert lib.send() == "traced sent"


def test_a_failure_half_way_leaves_the_library_as_it_was() -> None:
    lib = _library()
    patches = Patches()

    def apply(p: Patches) -> None:
        p.patch(lib, "send", _traced)
        p.patch(lib, "missing", _traced)  # AttributeError: the library changed

    with pytest.raises(AttributeError):
        patches.install(apply)
    assert lib.send() == "sent"
    assert not patches.installed


def test_connected_handlers_are_disconnected() -> None:
    connected: list[Any] = []
    signal = SimpleNamespace(
        connect=lambda handler, weak: connected.append(handler),
        disconnect=lambda handler: connected.remove(handler),
    )
    patches = Patches()

    def handler() -> None:
        pass

    patches.install(lambda p: p.connect(signal, handler))
    assert connected == [handler]
    patches.uninstall()
    assert connected == []
