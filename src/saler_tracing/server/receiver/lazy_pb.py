"""A second reading of ``ExportTraceServiceRequest`` that leaves parts of each span encoded.

Message fields are length-delimited on the wire, so a message declaring one as ``bytes`` parses
the same request and hands back the field's encoding. ``Span.attributes`` (field 9, ``repeated
KeyValue``) becomes ``repeated bytes``: attributes repeat from span to span (method, route,
status, host…), so a dictionary from those bytes to the attribute's JSON text answers most of
them with one lookup instead of five protobuf accessor calls — the hottest loop of ingest
(:mod:`.attributes`). ``status`` (15), ``events`` (11) and ``links`` (13) become single
``bytes``: most spans have none, and reading an empty ``bytes`` costs a fraction of the message
wrapper or list per span it replaces. Of a repeated field read this way only the last element
remains, so it tells whether a span has events or links, not what they are: those are read
from the request parsed as OTLP. Every other field keeps the real OTLP types (built on the
installed descriptors).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: F401  (registers)
from opentelemetry.proto.trace.v1 import trace_pb2

_F = descriptor_pb2.FieldDescriptorProto
_PKG = "saler_tracing.lazy"


def _field(
    msg: Any, name: str, number: int, ftype: int, repeated: bool = False, type_name: str = ""
) -> None:
    field = msg.field.add(name=name, number=number, type=ftype)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name


def _build() -> Any:
    span_desc = trace_pb2.Span.DESCRIPTOR
    fdp = descriptor_pb2.FileDescriptorProto(
        name="saler_tracing/lazy_trace.proto", package=_PKG, syntax="proto3"
    )
    fdp.dependency.append(span_desc.file.name)
    fdp.dependency.append("opentelemetry/proto/resource/v1/resource.proto")
    fdp.dependency.append("opentelemetry/proto/common/v1/common.proto")
    span = fdp.message_type.add(name="Span")
    # The real Span's fields, attributes, events, links and status re-declared as raw bytes.
    real = descriptor_pb2.DescriptorProto()
    span_desc.CopyToProto(real)
    for f in real.field:
        copy = span.field.add()
        copy.CopyFrom(f)
        if f.number in (9, 11, 13, 15):
            copy.type = _F.TYPE_BYTES
            copy.ClearField("type_name")
            if f.number != 9:
                copy.label = _F.LABEL_OPTIONAL
    scope_spans = fdp.message_type.add(name="ScopeSpans")
    _field(
        scope_spans,
        "scope",
        1,
        _F.TYPE_MESSAGE,
        type_name=".opentelemetry.proto.common.v1.InstrumentationScope",
    )
    _field(scope_spans, "spans", 2, _F.TYPE_MESSAGE, True, f".{_PKG}.Span")
    _field(scope_spans, "schema_url", 3, _F.TYPE_STRING)
    resource_spans = fdp.message_type.add(name="ResourceSpans")
    _field(
        resource_spans,
        "resource",
        1,
        _F.TYPE_MESSAGE,
        type_name=".opentelemetry.proto.resource.v1.Resource",
    )
    _field(resource_spans, "scope_spans", 2, _F.TYPE_MESSAGE, True, f".{_PKG}.ScopeSpans")
    _field(resource_spans, "schema_url", 3, _F.TYPE_STRING)
    request = fdp.message_type.add(name="ExportTraceServiceRequest")
    _field(request, "resource_spans", 1, _F.TYPE_MESSAGE, True, f".{_PKG}.ResourceSpans")
    pool = descriptor_pool.Default()
    try:
        desc = pool.FindMessageTypeByName(f"{_PKG}.ExportTraceServiceRequest")
    except KeyError:
        pool.Add(fdp)
        desc = pool.FindMessageTypeByName(f"{_PKG}.ExportTraceServiceRequest")
    return message_factory.GetMessageClass(desc)


LazyExportTraceServiceRequest: Any = _build()
