"""Where we meet the OpenTelemetry SDK: the global provider proxy, the resource, and
``private``, every read of another library's private names."""
