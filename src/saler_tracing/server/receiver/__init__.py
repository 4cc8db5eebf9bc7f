"""Ingest: OTLP over HTTP (protobuf and JSON) and gRPC, decoded into span batches."""
