"""Prometheus metrics: from spans (``stage``), about the pipeline (``pipeline``), the service
health score (``health``), bounded labels (``cardinality``), multi-worker servers
(``multiproc``) and the FastAPI ``/metrics`` route (``router``). See docs/metrics.md."""
