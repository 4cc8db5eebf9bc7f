"""The engine of saler_tracing. Nothing here is public API; import from ``saler_tracing``."""
