"""The CLI beside a running ``saler-trace serve``: real server and CLI processes.

The server records its address beside the database; the CLI finds it, checks it is alive,
asks it (with the token from the environment), and ignores a record a dead server left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.server.harness import CLI, wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALER_TRACE_")}
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **extra}


def _cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=_env(**env)
    )


@contextmanager
def _serve(cwd: Path, record: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*CLI, "serve", "--http-port", "0", "--grpc-port", "-1", "--decode-workers", "0", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def recorded() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read() if proc.stderr else ''}")
            return record.exists()

        wait_for(recorded, 30, "saler-trace serve to record its address")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=20)


def _export(url: str, traces: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.server.exporter_proc",
            "http",
            url + "/v1/traces",
            "shop",
            str(traces),
        ],
        cwd=ROOT,
        env=_env(),
        check=True,
        timeout=60,
    )


def test_cli_finds_the_server_on_the_default_database(tmp_path: Path) -> None:
    record = tmp_path / ".saler-trace" / "traces.duckdb.server.json"
    with _serve(tmp_path, record):
        doc = json.loads(record.read_text())
        assert doc["url"].startswith("http://127.0.0.1:") and "token" not in doc
        _export(doc["url"], 6)

        def reported() -> dict | None:  # type: ignore[type-arg]
            run = _cli(
                tmp_path, "report", "--json"
            )  # no --db, no --url: the first thing anyone does
            assert run.returncode == 0, run.stderr
            data = json.loads(run.stdout)
            return data if sum(r["requests"] for r in data["routes"]) == 6 else None

        wait_for(reported, 30, "the report to count the exported requests")
        listed = _cli(tmp_path, "traces", "--json", "--limit", "2")
        assert listed.returncode == 0, listed.stderr
        trace_id = json.loads(listed.stdout)[0]["trace_id"]
        shown = _cli(tmp_path, "trace", trace_id)
        assert shown.returncode == 0, shown.stderr
        assert "SELECT" in shown.stdout
    assert not record.exists()  # a clean stop removes the record
    after = _cli(tmp_path, "report", "--json")  # and the file is read directly again
    assert after.returncode == 0, after.stderr
    assert sum(r["requests"] for r in json.loads(after.stdout)["routes"]) == 6


def test_db_option_and_token_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "spans.duckdb"
    record = Path(str(db) + ".server.json")
    with _serve(tmp_path, record, "--db", str(db), "--token", "s3cret-token"):
        ok = _cli(ROOT, "report", "--db", str(db), "--json", SALER_TRACE_TOKEN="s3cret-token")
        assert ok.returncode == 0, ok.stderr
        assert "routes" in json.loads(ok.stdout)
        by_env = _cli(
            ROOT, "traces", "--json", SALER_TRACE_DB=str(db), SALER_TRACE_TOKEN="s3cret-token"
        )
        assert by_env.returncode == 0, by_env.stderr
        missing = _cli(ROOT, "report", "--db", str(db))
        assert missing.returncode == 2
        assert "SALER_TRACE_TOKEN" in missing.stderr


def test_a_stale_record_is_ignored(tmp_path: Path) -> None:
    db = tmp_path / "traces.duckdb"
    record = Path(str(db) + ".server.json")
    with _serve(tmp_path, record, "--db", str(db)) as proc:
        url = json.loads(record.read_text())["url"]
        _export(url, 3)
        wait_for(
            lambda: (
                _cli(tmp_path, "traces", "--db", str(db), "--json").stdout.count("trace_id") == 3
            ),
            30,
            "the three traces to be written",
        )
        proc.send_signal(signal.SIGKILL)  # no chance to remove its record
        proc.wait(10)
    assert record.exists()
    run = _cli(tmp_path, "traces", "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)) == 3  # read from the file
    # A record naming a live process (this one) but an address nobody answers: also stale.
    record.write_text(json.dumps({"url": url, "pid": os.getpid(), "db": str(db.resolve())}))
    assert _cli(tmp_path, "report", "--db", str(db), "--json").returncode == 0


def test_url_still_asks_a_remote_server(tmp_path: Path) -> None:
    db = tmp_path / "traces.duckdb"
    record = Path(str(db) + ".server.json")
    with _serve(tmp_path, record, "--db", str(db)):
        url = json.loads(record.read_text())["url"]
        other = tmp_path / "other.duckdb"  # --url wins over any file
        run = _cli(tmp_path, "report", "--db", str(other), "--url", url, "--json")
        assert run.returncode == 0, run.stderr
        assert not other.exists()
