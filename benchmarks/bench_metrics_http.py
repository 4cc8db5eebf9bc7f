"""What the metrics stage costs a real request: the same traced app served by uvicorn in two
processes, metrics on and off (SALER_TRACING_METRICS), driven alternately in rounds from this
process over loopback. Prints the best round's µs a request of each and the ratio.

    .venv/bin/python benchmarks/bench_metrics_http.py [REQUESTS_A_ROUND] [ROUNDS]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent


def start(metrics: bool) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SALER_TRACING_METRICS": "true" if metrics else "false"}
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--host", "127.0.0.1"]
    cmd += ["--port", "0", "--log-level", "info", "--no-access-log", "metrics_app:app"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    for line in proc.stderr:
        found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("uvicorn did not start")


def round_us(client: httpx.Client, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        client.get(f"/items/{i}").raise_for_status()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    servers = {"off": start(False), "on": start(True)}
    best = {"off": float("inf"), "on": float("inf")}
    try:
        clients = {k: httpx.Client(base_url=url, timeout=10) for k, (_, url) in servers.items()}
        for client in clients.values():
            round_us(client, 200)  # warm up
        for _ in range(rounds):
            for key in ("off", "on"):
                best[key] = min(best[key], round_us(clients[key], n))
        counted = httpx.get(servers["on"][1] + "/metrics").text
        assert "saler_tracing_requests_total" in counted
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)
    print(f"requests a round: {n}, rounds: {rounds} (best of), keep-alive, one client")
    print(f"metrics off: {best['off']:.1f} µs/request")
    print(f"metrics on:  {best['on']:.1f} µs/request")
    print(f"ratio on/off: {best['on'] / best['off']:.3f}")


if __name__ == "__main__":
    main()
