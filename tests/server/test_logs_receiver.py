"""The server's log intake and table: OTLP ``/v1/logs`` over HTTP and gRPC with bad input,
and the ``logs`` table read back from a file the way ``saler-trace trace --db`` reads it."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from saler_tracing.server.store.duckdb_store import DuckDBStore
from saler_tracing.server.store.logs_table import LogRow
from tests.server.harness import server_thread

METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def _request(*records: LogRecord) -> bytes:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="grpc-svc"))
    )
    sl = rl.scope_logs.add()
    sl.scope.name = "app.module"
    sl.log_records.extend(records)
    return bytes(request.SerializeToString())


def _record(trace_id: bytes, body: str) -> LogRecord:
    return LogRecord(
        time_unix_nano=1_700_000_000_000_000_000,
        severity_number=17,  # type: ignore[arg-type]
        severity_text="ERROR",
        body=AnyValue(string_value=body),
        trace_id=trace_id,
        span_id=b"\x02" * 8,
    )


def test_grpc_logs_service_stores_good_records_and_rejects_bad_ones() -> None:
    with server_thread() as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        call = channel.unary_unary(METHOD)
        answer = ExportLogsServiceResponse.FromString(
            call(
                _request(_record(b"\x01" * 16, "kept"), _record(b"\x01" * 5, "bad id")), timeout=10
            )
        )
        assert answer.partial_success.rejected_log_records == 1
        with pytest.raises(grpc.RpcError) as refused:
            call(b"\xff\xff\xff", timeout=10)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        channel.close()
        (row,) = server.store.logs.for_traces(["01" * 16])
        assert (row.body, row.service_name, row.scope, row.span_id) == (
            "kept",
            "grpc-svc",
            "app.module",
            "02" * 8,
        )


def test_http_logs_refuses_what_it_cannot_read() -> None:
    with server_thread(max_body=1024) as server:
        url = f"http://127.0.0.1:{server.http_port}/v1/logs"
        assert (
            httpx.post(url, content=b"x", headers={"content-type": "text/plain"}).status_code == 415
        )
        big = httpx.post(
            url, content=b"\x00" * 4096, headers={"content-type": "application/x-protobuf"}
        )
        assert big.status_code == 413
        assert httpx.get(url).status_code == 405
        assert server.store.logs.written == 0


def test_logs_table_read_back_from_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "t.duckdb")
    store = DuckDBStore(path)
    rows = [
        LogRow("aa" * 16, "bb" * 8, t, 13, "WARNING", f"line {t}", "{}", "svc", "x")
        for t in (30, 10, 20)
    ]
    assert store.logs.write(rows)
    store.close()
    reader = DuckDBStore(path, read_only=True)
    try:
        assert [r.body for r in reader.logs.for_traces(["aa" * 16])] == [
            "line 10",
            "line 20",
            "line 30",
        ]
        assert reader.logs.for_traces(["cc" * 16]) == []
    finally:
        reader.close()


def test_a_file_made_before_logs_were_stored_reads_as_no_logs(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    import duckdb

    duckdb.connect(path).close()  # an empty database: no logs table
    reader = DuckDBStore(path, read_only=True)
    try:
        assert reader.logs.for_traces(["aa" * 16]) == []
    finally:
        reader.close()


def test_size_retention_deletes_the_log_records_of_the_spans_it_deletes(tmp_path: Path) -> None:
    from saler_tracing.server.store.seam import Retention
    from tests.server.builders import MS, T0, batch, request

    store = DuckDBStore(
        str(tmp_path / "t.duckdb"),
        retention=Retention(max_age_s=None, max_bytes=None, check_every_s=3600),
    )
    try:
        spans = [request("/a", i, 1) for i in range(20_000)]
        for i in range(0, len(spans), 2000):
            assert store.write(batch(spans[i : i + 2000]))
        assert store.flush(30)
        # One WARNING line per 100 ms of spans, over the whole range.
        logs = [
            LogRow("aa" * 16, "bb" * 8, T0 + t * MS, 13, "WARNING", f"line {t}", "{}", "svc", "x")
            for t in range(0, 20_000, 100)
        ]
        assert store.logs.write(logs)
        store.sql("CHECKPOINT")
        ((block, blocks),) = store.sql("SELECT block_size, used_blocks FROM pragma_database_size()")
        store.retention = Retention(max_age_s=None, max_bytes=block * blocks // 2)
        store.enforce_retention()
        low, _ = store.time_bounds() or (0, 0)
        assert low > T0  # the oldest spans went
        kept = store.logs.for_traces(["aa" * 16], limit=10_000)
        assert 0 < len(kept) < len(logs)  # the old records went with them, the new ones stay
        assert min(row.time_ns for row in kept) >= low
        assert kept[-1].body == "line 19900"
    finally:
        store.close()
