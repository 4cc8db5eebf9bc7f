"""``saler-trace``: the local trace server.

Three parts behind narrow seams, as Jaeger splits them: :mod:`.receiver` (OTLP over HTTP and
gRPC, decoding into :class:`~.model.SpanBatch`), :mod:`.store` (``SpanWriter``/``SpanReader``
and the DuckDB backend) and :mod:`.query` (the analysis). :mod:`.web` and :mod:`.cli` sit on
top. Nothing here is imported by ``import saler_tracing``; it needs the ``server`` extra.
"""
