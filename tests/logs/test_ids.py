"""Trace ids on log records: stdlib formatters (the documented format string, a JSON
formatter), structlog's JSONRenderer, ``extra=`` names that collide with ours, records
outside a span, and no takeover of the application's logging."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

import saler_tracing
from saler_tracing import ExportOptions, LogsOptions
from saler_tracing._internal.logs import ids


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    """A logger with a text handler (the documented format) and a JSON one."""
    text, doc = io.StringIO(), io.StringIO()
    log = logging.getLogger("tests.logs.ids")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    plain = logging.StreamHandler(text)
    plain.setFormatter(logging.Formatter(saler_tracing.LOG_FORMAT))
    as_json = logging.StreamHandler(doc)
    as_json.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    log.handlers = [plain, as_json]
    yield log, text, doc
    log.handlers = []


def _ids(span: trace.Span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def test_ids_in_text_and_json_output_inside_a_span(logger: tuple) -> None:  # type: ignore[type-arg]
    log, text, doc = logger
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
    with trace.get_tracer("t").start_as_current_span("work") as span:
        log.info("inside")
    trace_id, span_id = _ids(span)
    assert f"[trace_id={trace_id} span_id={span_id} service=ids-svc] inside" in text.getvalue()
    fields = json.loads(doc.getvalue().splitlines()[-1])
    assert fields["trace_id"] == trace_id
    assert fields["span_id"] == span_id
    assert fields["trace_flags"] == "01"
    assert fields["service_name"] == "ids-svc"


def test_outside_a_span_the_ids_are_empty_and_the_line_is_unchanged(logger: tuple) -> None:  # type: ignore[type-arg]
    log, text, _ = logger
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
    log.warning("no span here")
    assert "[trace_id= span_id= service=ids-svc] no span here" in text.getvalue()


def test_extra_fields_with_our_names_keep_the_applications_value(logger: tuple) -> None:  # type: ignore[type-arg]
    log, _, doc = logger
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
    with trace.get_tracer("t").start_as_current_span("work"):
        # Without our care, Logger.makeRecord raises KeyError for an extra key the record
        # already has: an application logging its own trace_id would break.
        log.info("own id", extra={"trace_id": "app-chosen", "order": 3})
    fields = json.loads(doc.getvalue().splitlines()[-1])
    assert fields["trace_id"] == "app-chosen"
    assert fields["order"] == 3
    with pytest.raises(KeyError):  # the standard library's own names are still refused
        log.info("bad", extra={"message": "x"})


def test_a_logger_subclass_and_a_logger_adapter_get_the_ids() -> None:
    class AppLogger(logging.Logger):
        pass

    out = io.StringIO()
    log = AppLogger("tests.logs.subclass")  # as logging.setLoggerClass(AppLogger) would make
    log.propagate = False
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(saler_tracing.LOG_FORMAT))
    log.addHandler(handler)
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
    with trace.get_tracer("t").start_as_current_span("work") as span:
        log.warning("from the subclass")
        logging.LoggerAdapter(log, {"order": 1}).warning("from the adapter")
    trace_id, span_id = _ids(span)
    lines = out.getvalue().splitlines()
    assert [f"trace_id={trace_id} span_id={span_id}" in line for line in lines] == [True, True]


def test_a_later_wrapper_of_make_record_keeps_working_after_shutdown(logger: tuple) -> None:  # type: ignore[type-arg]
    """Another library (ddtrace, say) wrapping ``makeRecord`` after us: uninstalling must not
    cut it out of the chain, and our part then passes records through."""
    log, _, _ = logger
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
    ours = logging.Logger.makeRecord
    seen: list[logging.LogRecord] = []

    def theirs(self: logging.Logger, *args: object, **kwargs: object) -> logging.LogRecord:
        record = ours(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(record)
        return record

    logging.Logger.makeRecord = theirs  # type: ignore[method-assign,assignment]
    try:
        ids.uninstall()
        assert logging.Logger.makeRecord is theirs
        log.handlers = []
        log.warning("still theirs")
        assert [record.getMessage() for record in seen] == ["still theirs"]
        assert "trace_id" not in seen[0].__dict__  # ours passes it through untouched
    finally:
        logging.Logger.makeRecord = ours  # type: ignore[method-assign]
        ids.uninstall()


def test_no_handler_is_replaced_and_the_previous_factory_is_chained(logger: tuple) -> None:  # type: ignore[type-arg]
    log, text, _ = logger
    ids.uninstall()
    root = logging.getLogger()
    before_handlers = list(root.handlers)
    before_own = list(log.handlers)
    made: list[str] = []
    previous = logging.getLogRecordFactory()

    def app_factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        made.append(record.getMessage())
        return record

    logging.setLogRecordFactory(app_factory)
    try:
        saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
        saler_tracing.configure(service_name="again", export=ExportOptions(exporter="none"))
        assert root.handlers == before_handlers
        assert log.handlers == before_own
        log.warning("through both")
        assert made == ["through both"]  # the application's factory still runs, once
        assert "service=again] through both" in text.getvalue()
        saler_tracing.shutdown()
        log.warning("after shutdown")  # the format string still works: fields are empty
        assert "[trace_id= span_id= service=] after shutdown" in text.getvalue()
        ids.uninstall()
        assert logging.getLogRecordFactory() is app_factory
    finally:
        logging.setLogRecordFactory(previous)


@pytest.mark.parametrize("switch", ["argument", "OTEL_SDK_DISABLED"])
def test_the_kill_switch_keeps_a_format_naming_the_ids_working(
    logger: tuple,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    switch: str,
) -> None:
    log, text, _ = logger
    ids.uninstall()  # as in a fresh process: nothing has chained the wrapper yet
    if switch == "argument":
        saler_tracing.configure(service_name="ids-svc", disabled=True)
    else:
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        saler_tracing.configure(service_name="ids-svc")
    log.warning("tracing off")
    assert "[trace_id= span_id= service=] tracing off" in text.getvalue()
    assert "Logging error" not in capsys.readouterr().err


def test_logs_off_adds_nothing(logger: tuple) -> None:  # type: ignore[type-arg]
    log, _, doc = logger
    saler_tracing.configure(
        service_name="ids-svc",
        export=ExportOptions(exporter="none"),
        logs=LogsOptions(enabled=False),
    )
    with trace.get_tracer("t").start_as_current_span("work"):
        log.info("plain")
    fields = json.loads(doc.getvalue().splitlines()[-1])
    assert fields.get("trace_id", "") == ""


def test_structlog_json_renderer_gets_the_ids() -> None:
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            saler_tracing.add_trace_context,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))
        log = structlog.get_logger()
        with trace.get_tracer("t").start_as_current_span("work") as span:
            log.info("inside", trace_id_of_mine=1)
        log.info("outside")
    finally:
        structlog.reset_defaults()
    inside, outside = (json.loads(line) for line in out.getvalue().splitlines())
    trace_id, span_id = _ids(span)
    assert (inside["trace_id"], inside["span_id"], inside["trace_flags"]) == (
        trace_id,
        span_id,
        "01",
    )
    assert inside["service_name"] == "ids-svc"
    assert "trace_id" not in outside  # nothing changes outside a span


def test_a_failure_inside_the_factory_never_reaches_the_logging_call(
    logger: tuple,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from saler_tracing._internal import errors

    log, text, doc = logger
    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    saler_tracing.configure(service_name="ids-svc", export=ExportOptions(exporter="none"))

    def broken() -> object:
        raise RuntimeError("context unreadable")

    monkeypatch.setattr(ids, "current_context", broken)
    log.warning("still logged")
    assert json.loads(doc.getvalue().splitlines()[-1])["message"] == "still logged"
    assert "[trace_id= span_id= service=] still logged" in text.getvalue()
    # Counted (the error's own log line, through the same broken wrapper, counts too).
    assert set(errors.internal_error_counts()) == {"log record ids"}


def test_the_structlog_processor_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from saler_tracing._internal import errors

    monkeypatch.delenv(errors.RAISE_ENV, raising=False)
    errors.reset_internal_errors()
    monkeypatch.setattr(ids, "current", lambda: 1 / 0)
    event = {"event": "x"}
    assert saler_tracing.add_trace_context(None, "warning", event) == {"event": "x"}
    assert errors.internal_error_counts() == {"structlog processor": 1}
