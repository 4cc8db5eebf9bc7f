"""``rebuild_after_fork()``: a forked child (a Celery pool process) exports through a pipeline
of its own, and nothing the parent had queued is exported twice."""

from __future__ import annotations

import os

import saler_tracing
from saler_tracing._internal import setup
from tests.helpers.receiver import OtlpHttpReceiver


def test_forked_child_exports_its_own_spans_once() -> None:
    with OtlpHttpReceiver() as receiver:
        saler_tracing.configure(
            service_name="parent",
            export=saler_tracing.ExportOptions(
                exporter="otlp", traces_endpoint=receiver.endpoint, schedule_delay_ms=60_000
            ),
            environ={},
        )
        with saler_tracing.span("queued in the parent before the fork"):
            pass
        pid = os.fork()
        if pid == 0:  # the child: what a pool process does, then billiard's os._exit
            code = 1
            try:
                inherited = setup.active()
                assert setup.rebuild_after_fork()
                rebuilt = setup.active()
                assert rebuilt is not None
                assert inherited is not None
                assert rebuilt.provider is not inherited.provider  # new queue, new connections
                assert rebuilt.config == inherited.config
                with saler_tracing.span("made in the child"):
                    pass
                code = 0 if setup.shutdown(timeout_s=5) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert setup.force_flush(5)
        spans = receiver.store.wait_for(2, timeout=10)

    names = sorted(span.name for span in spans)
    assert names == ["made in the child", "queued in the parent before the fork"]
    pids = {span.name: span.resource.get("process.pid") for span in spans}
    if None not in pids.values():
        assert pids["made in the child"] != pids["queued in the parent before the fork"]
