"""A separate process exporting spans with the real SDK: ``python -m tests.server.exporter_proc
PROTOCOL ENDPOINT SERVICE TRACES``. Each trace: a SERVER root with 4 CLIENT children."""

from __future__ import annotations

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind


def main() -> None:
    protocol, endpoint, service, traces = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as G

        exporter: object = G(endpoint=endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as H

        exporter = H(endpoint=endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=100_000, max_export_batch_size=512)  # type: ignore[arg-type]
    )
    tracer = provider.get_tracer("exporter_proc")
    for i in range(traces):
        with tracer.start_as_current_span(
            f"GET /r{i % 3}", kind=SpanKind.SERVER, attributes={"http.route": f"/r{i % 3}"}
        ):
            for j in range(4):
                with tracer.start_as_current_span(
                    "SELECT",
                    kind=SpanKind.CLIENT,
                    attributes={"db.system.name": "postgresql", "db.query.text": f"SELECT {j}"},
                ):
                    pass
    provider.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()
