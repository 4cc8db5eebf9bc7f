"""Prometheus and Alertmanager beside the demo shop and ``saler-trace serve``, on deploy/'s files.

Run: ``make monitoring`` (or ``python -m examples.shop.stack``). It starts the trace
server, the payments service and the shop (each serving ``/metrics``), points Prometheus at
them with the shipped configuration and rules, and runs Alertmanager with the shipped routing;
light traffic keeps the dashboards' queries alive until Ctrl-C. The binaries are Debian's
``prometheus`` and ``prometheus-alertmanager`` (``scripts/monitoring_tools.sh``).

The end-to-end tests use the same functions with shortened intervals and a webhook receiver
in place of the real channels; the shipped files are never changed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except (httpx.HTTPError, OSError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.1)


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            proc.terminate()  # the services flush their spans on SIGTERM
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class Demo:
    trace_server: str
    shop: str
    payments: str


@contextmanager
def demo(work: Path, extra_env: dict[str, str] | None = None) -> Iterator[Demo]:
    """saler-trace serve, then payments and the shop as processes exporting to it."""
    ready = work / "trace-server.json"
    serve = ["serve", "--http-port", "0", "--grpc-port", "-1",
             "--db", str(work / "traces.duckdb"), "--ready-file", str(ready)]  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(process([PY, "-m", "saler_tracing.server", *serve], work / "serve.log"))
        trace = wait_until(lambda: json.loads(ready.read_text())["http"], 60, "saler-trace serve")
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": trace, "OTEL_BSP_SCHEDULE_DELAY": "200",
               **(extra_env or {})}  # fmt: skip

        def start(name: str, module: str, *args: str) -> str:
            port_file = work / f"{name}.port"
            command = [PY, "-m", module, str(port_file), *args]
            log = work / f"{name}.log"
            stack.enter_context(process(command, log, {**env, "OTEL_SERVICE_NAME": name}))
            return "http://127.0.0.1:" + wait_until(port_file.read_text, 60, name)

        payments = start("payments", "examples.shop.payments")
        shop = start("shop", "examples.shop.service", payments, str(work / "shop.sqlite"))
        yield Demo(trace, shop, payments)


def _address(url: str) -> str:
    return url.split("://", 1)[1]


def stage_prometheus(
    work: Path, app: Demo, alertmanager: str, *, environment: str, interval: str | None = None
) -> Path:
    """A copy of deploy/prometheus/prometheus.yml whose targets are the demo's services, with
    the shipped rules; ``interval`` replaces the scrape and evaluation intervals (tests only)."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    if interval:
        config["global"].update(scrape_interval=interval, evaluation_interval=interval)
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules" / "*.yml")]
    targets = work / "targets"
    targets.mkdir(exist_ok=True)
    found = {
        "apps.yml": [
            {"targets": [_address(url)], "labels": {"service": name, "team": name,
                                                    "environment": environment}}
            for name, url in (("shop", app.shop), ("payments", app.payments))
        ],
        "alertmanagers.yml": [{"targets": [_address(alertmanager)]}],
    }  # fmt: skip
    for block in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        for sd in block.get("file_sd_configs", []):
            names = [Path(f).name for f in sd["files"]]
            sd["files"] = [str(targets / n) for n in names]
            for n in names:
                (targets / n).write_text(yaml.safe_dump(found.get(n, [])))
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def stage_alertmanager(work: Path, *, webhook: str | None = None, fast: bool = False) -> Path:
    """A copy of deploy/alertmanager/alertmanager.yml. ``webhook``: every receiver keeps its
    name but delivers to ``{webhook}/{receiver}`` (so a test sees which route matched);
    ``fast``: group_wait 1 s and group_interval 2 s everywhere (tests only)."""
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    config["templates"] = [str(DEPLOY / "alertmanager" / "templates" / "*.tmpl")]
    if webhook:
        config["receivers"] = [
            {"name": r["name"],
             "webhook_configs": [{"url": f"{webhook}/{r['name']}", "send_resolved": True}]}
            for r in config["receivers"]
        ]  # fmt: skip
    if fast:
        pending = [config["route"]]
        while pending:
            route = pending.pop()
            route.update(group_wait="1s", group_interval="2s")
            pending.extend(route.get("routes", []))
    path = work / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def prometheus(config: Path, work: Path, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    args = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with process(args, work / "prometheus.log"):
        wait_until(lambda: httpx.get(f"{url}/-/ready").status_code == 200, 60, "prometheus")
        yield url


@contextmanager
def alertmanager(config: Path, work: Path, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    args = ["prometheus-alertmanager", f"--config.file={config}",
            f"--storage.path={work / 'alertmanager'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address="]  # fmt: skip  # one instance: no gossip port
    with process(args, work / "alertmanager.log"):
        wait_until(lambda: httpx.get(f"{url}/-/ready").status_code == 200, 60, "alertmanager")
        yield url


def browse(shop: str, client: httpx.Client) -> None:
    """One round of healthy traffic: catalogue, a product, the order with the N+1, a 404, a
    paid checkout (shop → payments)."""
    for path in ("/products", "/products/2", "/orders/1", "/products/99"):
        client.get(f"{shop}{path}")
    order = {"product_id": 5, "quantity": 1, "email": "customer@example.com"}
    client.post(f"{shop}/checkout", json=order)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the children on SIGTERM too
    prom_port = int(os.environ.get("PROMETHEUS_PORT", "9090"))
    am_port = int(os.environ.get("ALERTMANAGER_PORT", "9093"))
    work = Path(tempfile.mkdtemp(prefix="saler-monitoring-"))
    am_url = f"http://127.0.0.1:{am_port}"
    with ExitStack() as stack:
        app = stack.enter_context(demo(work))
        am = stack.enter_context(alertmanager(stage_alertmanager(work), work, am_port))
        config = stage_prometheus(work, app, am_url, environment="demo")
        prom = stack.enter_context(prometheus(config, work, prom_port))
        print(f"trace server: {app.trace_server}\nshop: {app.shop}  payments: {app.payments}")
        print(f"prometheus: {prom}  alertmanager: {am}\nlogs and configuration: {work}")
        print("light traffic to the shop until Ctrl-C")
        try:
            with httpx.Client(timeout=10) as client:
                while True:
                    browse(app.shop, client)
                    time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
