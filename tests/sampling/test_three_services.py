"""Three real services on loopback, sampling at 100 %, 10 % and 1 %, chained A → B → C.

Each runs in its own process (real uvicorn, its own ``configure()``) and exports OTLP/HTTP to
one real receiver in the test. With consistent probability on the trace id, the services
that keep a trace are exactly those whose threshold the trace's randomness clears: every
trace C kept has its A and B spans, every trace B kept has its A spans, none is partial.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from saler_tracing._internal.sampling import consistent as cp
from tests.helpers.receiver import OtlpHttpReceiver

ROOT = Path(__file__).resolve().parents[2]
RATES = {"svc-a": 1.0, "svc-b": 0.1, "svc-c": 0.01}
pytestmark = pytest.mark.slow


def _start(name: str, endpoint: str, next_url: str | None) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OTEL_SERVICE_NAME": name,
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(RATES[name]),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # Only the head decision is under test: no trace may be promoted for being slow
        # on a busy machine.
        "SALER_TRACING_TAIL_LATENCY_MS": "600000",
    }
    if next_url:
        env["NEXT_URL"] = next_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.sampling.service_app"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()  # bounded by the pytest timeout
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"service {name} did not start (uvicorn on 127.0.0.1): {url!r}")
    return proc, url


@pytest.fixture
def chain() -> Iterator[tuple[str, OtlpHttpReceiver, list[subprocess.Popen[str]]]]:
    with OtlpHttpReceiver() as receiver:
        procs: list[subprocess.Popen[str]] = []
        try:
            proc_c, url_c = _start("svc-c", receiver.endpoint, None)
            procs.append(proc_c)
            proc_b, url_b = _start("svc-b", receiver.endpoint, url_c)
            procs.append(proc_b)
            proc_a, url_a = _start("svc-a", receiver.endpoint, url_b)
            procs.append(proc_a)
            yield url_a, receiver, procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                for pipe in (proc.stdin, proc.stdout):
                    if pipe is not None and not pipe.closed:
                        pipe.close()


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    """Close stdin: each service flushes its spans and exits (bounded wait)."""
    for proc in reversed(procs):  # A first, so nothing is in flight downstream
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(30) == 0


def _designed_trace_ids(rng: random.Random) -> list[int]:
    """Trace ids whose randomness falls in each band: kept by A only, A+B, and all three."""
    t_b, t_c = cp.threshold(RATES["svc-b"]), cp.threshold(RATES["svc-c"])
    bands = [(0, t_b), (t_b, t_c), (t_c, cp.MAX_THRESHOLD)]
    ids = []
    for low, high in bands:
        for _ in range(40):
            r = rng.randrange(low, high)
            ids.append((rng.getrandbits(72) << 56) | r)
    return ids


def test_chain_keeps_only_complete_traces(
    chain: tuple[str, OtlpHttpReceiver, list[subprocess.Popen[str]]],
) -> None:
    url_a, receiver, procs = chain
    rng = random.Random(6)
    sent: list[int | None] = [*_designed_trace_ids(rng), *([None] * 150)]
    rng.shuffle(sent)
    with httpx.Client(timeout=30) as client:
        for i, trace_id in enumerate(sent):
            headers = {}
            if trace_id is not None:
                # A remote caller that sampled, with the Level 2 random flag (0x02).
                headers["traceparent"] = f"00-{trace_id:032x}-{rng.getrandbits(64) or 1:016x}-03"
            assert client.get(f"{url_a}/hop/{i}", headers=headers).status_code == 200
    _stop(procs)

    services: dict[str, set[str]] = defaultdict(set)
    th_seen: dict[str, set[str]] = defaultdict(set)
    for span in receiver.store.spans:
        services[span.trace_id].add(span.resource["service.name"])
        th_seen[span.resource["service.name"]].add(span.span.trace_state)
    assert len(services) == len(sent), "A samples at 100 %: every request is a kept trace"
    kept_by = {name: 0 for name in RATES}
    for trace_hex, names in services.items():
        r = int(trace_hex, 16) & (cp.MAX_THRESHOLD - 1)
        expected = {name for name, p in RATES.items() if r >= cp.threshold(p)}
        assert names == expected, f"trace {trace_hex}: kept by {names}, expected {expected}"
        for name in names:
            kept_by[name] += 1
    # Each service's spans say with which probability they were kept (OTel ``th``).
    assert th_seen["svc-a"] == {"ot=th:0"}
    assert th_seen["svc-b"] == {"ot=th:" + cp.encode_threshold(cp.threshold(0.1))}
    assert th_seen["svc-c"] == {"ot=th:" + cp.encode_threshold(cp.threshold(0.01))}
    # The designed ids guarantee every band is exercised.
    assert kept_by["svc-c"] >= 40
    assert kept_by["svc-b"] >= 80
    # Whole traces: A's server span, its "work" span, and a client-side chain per service.
    for trace_hex, names in services.items():
        spans = [s for s in receiver.store.spans if s.trace_id == trace_hex]
        assert len(spans) == 2 * len(names), [(s.name, s.resource["service.name"]) for s in spans]
