"""The HTTP endpoints the library serves: health and stats (``health_router``), the same for a
process without a web app (``serve_telemetry``). ``/metrics`` lives with the metrics."""
