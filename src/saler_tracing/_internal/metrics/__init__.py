"""Prometheus metrics: from spans (``stage``), about the export pipeline (``export_figures``,
``export_timing``), the service health score (``health_score``, ``health_window``), bounded
labels (``cardinality``), multi-worker servers (``multiproc``), the registry helpers
(``prom``), the pipeline in use (``current``) and ``/metrics`` (``router``, ``exposition``).
See docs/metrics.md."""
