"""Sending encoded OTLP requests: HTTP (``http.client``, keep-alive) and gRPC (pre-encoded bytes).

Each transport turns one attempt into an :class:`~.retry.Outcome` and never raises: the
export thread decides what to do next. Both are used from the export thread only, and
re-created in a forked child (a socket or gRPC channel must not be shared across a fork).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from saler_tracing._internal.export import retry
from saler_tracing._internal.export.retry import Outcome


class Transport(Protocol):
    def send(self, body: bytes, timeout_s: float) -> Outcome: ...

    def abort(self) -> None:
        """Cut a request running on another thread short (it fails, to be retried)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Tls:
    """What an ``https://`` endpoint is trusted by (``certificate``: CA certificates, PEM;
    else the system's) and who this service is to it (mutual TLS: ``client_certificate``
    with ``client_key``). Paths are checked when the configuration is read."""

    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.certificate)
        if self.client_certificate is not None:
            context.load_cert_chain(self.client_certificate, self.client_key)
        return context

    def grpc_credentials(self, grpc: Any) -> Any:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as file:
                return file.read()

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.certificate),
            private_key=read(self.client_key),
            certificate_chain=read(self.client_certificate),
        )


class HttpTransport:
    """OTLP/HTTP protobuf on one keep-alive connection, re-opened after any error."""

    def __init__(
        self,
        endpoint: str,
        headers: dict[str, str],
        compression: str = "none",
        tls: Tls | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.gzip = compression == "gzip"
        self.headers = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": "saler-tracing",
            **headers,
        }
        if self.gzip:
            self.headers["Content-Encoding"] = "gzip"
        self._conn: http.client.HTTPConnection | None = None
        # Built once: loading CA files a connection would cost every reconnect.
        self._context = (tls or Tls()).ssl_context() if self.https else None

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=timeout_s, context=self._context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        self._conn.timeout = timeout_s
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout_s)
        return self._conn

    def send(self, body: bytes, timeout_s: float) -> Outcome:
        payload = gzip.compress(body, compresslevel=1) if self.gzip else body
        try:
            conn = self._connection(max(timeout_s, 0.001))
            conn.request("POST", self.path, body=payload, headers=self.headers)
            response = conn.getresponse()
            response.read()  # drain so the connection can be reused
            status = response.status
            retry_after = response.getheader("Retry-After")
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return retry.from_exception(exc)
        return retry.from_http(status, retry_after)

    def abort(self) -> None:
        # ``shutdown`` wakes a ``recv`` blocked on another thread; ``close`` would not.
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing runs on it
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class GrpcTransport:
    """OTLP/gRPC sending bytes we encoded ourselves (no protobuf objects on the way)."""

    def __init__(
        self,
        endpoint: str,
        headers: dict[str, str],
        compression: str = "none",
        method: str = _EXPORT_METHOD,  # the logs service's for log records
        tls: Tls | None = None,
    ) -> None:
        import grpc

        self._grpc = grpc
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        target = f"{parts.hostname}:{parts.port or 4317}"
        if parts.scheme == "https":
            self._channel = grpc.secure_channel(target, (tls or Tls()).grpc_credentials(grpc))
        else:
            self._channel = grpc.insecure_channel(target)
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())
        self._compression = grpc.Compression.Gzip if compression == "gzip" else None
        # No serializers: grpc passes our bytes through and hands back the raw response.
        self._call = self._channel.unary_unary(method)

    def send(self, body: bytes, timeout_s: float) -> Outcome:
        grpc = self._grpc
        try:
            self._call(
                body,
                timeout=max(timeout_s, 0.001),
                metadata=self._metadata,
                compression=self._compression,
            )
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            value = code.value[0] if code is not None else 2
            name = code.name if code is not None else "UNKNOWN"
            return retry.from_grpc(value, name, _retry_info(err))
        except Exception as exc:
            return retry.from_exception(exc)
        return retry.OK

    def abort(self) -> None:
        self._channel.close()  # cancels the RPC in progress

    def close(self) -> None:
        self._channel.close()


def _retry_info(err: Any) -> float | None:
    """The delay in ``google.rpc.RetryInfo`` from the error's status details, if any."""
    try:
        from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

        for key, value in err.trailing_metadata() or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    info = error_details_pb2.RetryInfo()
                    detail.Unpack(info)
                    return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    except Exception:  # details are a hint; a malformed one is ignored
        return None
    return None
