"""Export to a collector behind TLS with a private CA, and mutual TLS: the standard
``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`` / ``CLIENT_CERTIFICATE`` / ``CLIENT_KEY`` settings,
over OTLP/HTTP and OTLP/gRPC, against real receivers on loopback speaking TLS. The
certificates are made for the test by ``openssl`` (``tests/helpers/pki.py``)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import saler_tracing
from saler_tracing import ConfigurationError, ExportOptions
from saler_tracing._internal import setup
from tests.helpers.pki import Pki, make_pki
from tests.helpers.receiver import OtlpHttpReceiver, grpc_receiver


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _server_context(pki: Pki, require_client: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client:
        context.load_verify_locations(pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _export_one(endpoint: str, protocol: str = "http/protobuf", **tls: Any) -> dict[str, Any]:
    """Configure against ``endpoint``, end one span, flush; the export figures after it."""
    saler_tracing.configure(
        service_name="tls",
        export=ExportOptions(
            **({"traces_endpoint": endpoint} if protocol != "grpc" else {"endpoint": endpoint}),
            protocol=protocol,
            schedule_delay_ms=20,
            timeout_ms=2_000,
            export_timeout_ms=1_000,
            retry_max_backoff_s=0.1,
            **tls,
        ),
        environ={},
    )
    with saler_tracing.span("over tls"):
        pass
    saler_tracing.force_flush(timeout_s=10)
    active = setup.active()
    assert active is not None
    snapshot: dict[str, Any] = active.monitor.snapshot()
    return snapshot


@pytest.fixture
def https(pki: Pki) -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver(tls=_server_context(pki, require_client=False)) as receiver:
        yield receiver


def test_a_private_ca_verifies_the_collector(pki: Pki, https: OtlpHttpReceiver) -> None:
    _export_one(https.endpoint, certificate=str(pki.ca))
    assert [s.name for s in https.store.wait_for(1)] == ["over tls"]


def test_without_the_ca_nothing_is_sent_and_health_names_the_cause(
    pki: Pki, https: OtlpHttpReceiver
) -> None:
    figures = _export_one(https.endpoint, certificate=str(pki.other_ca))
    assert https.store.spans == []
    assert figures["last_result"] == "failure"
    assert "CERTIFICATE_VERIFY_FAILED" in figures["last_error"]


def test_mutual_tls(pki: Pki) -> None:
    with OtlpHttpReceiver(tls=_server_context(pki, require_client=True)) as receiver:
        figures = _export_one(receiver.endpoint, certificate=str(pki.ca))
        assert receiver.store.spans == []  # no client certificate: the handshake is refused
        assert figures["last_result"] == "failure"
        _export_one(
            receiver.endpoint,
            certificate=str(pki.ca),
            client_certificate=str(pki.client_cert),
            client_key=str(pki.client_key),
        )
        assert [s.name for s in receiver.store.wait_for(1)] == ["over tls"]


def test_grpc_with_a_private_ca_and_mutual_tls(pki: Pki) -> None:
    import grpc

    credentials = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes(),
        require_client_auth=True,
    )
    with grpc_receiver(credentials=credentials) as (endpoint, store):
        _export_one(
            endpoint,
            protocol="grpc",
            certificate=str(pki.ca),
            client_certificate=str(pki.client_cert),
            client_key=str(pki.client_key),
        )
        assert [s.name for s in store.wait_for(1)] == ["over tls"]


def test_the_variables_are_read_and_bad_files_fail_configure(pki: Pki, tmp_path: Path) -> None:
    config = saler_tracing.configure(
        service_name="tls",
        export=ExportOptions(exporter="none"),
        environ={
            "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki.other_ca),
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": str(pki.ca),  # the traces one wins
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert),
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(pki.client_key),
        },
    )
    assert config.export.certificate == str(pki.ca)
    assert config.export.client_key == str(pki.client_key)

    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_OTLP_CERTIFICATE: invalid value"):
        saler_tracing.configure(environ={"OTEL_EXPORTER_OTLP_CERTIFICATE": missing})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="holds no usable PEM certificate"):
        saler_tracing.configure(environ={"OTEL_EXPORTER_OTLP_CERTIFICATE": str(garbage)})
    with pytest.raises(ConfigurationError, match="go together"):
        saler_tracing.configure(
            environ={"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert)}
        )
    with pytest.raises(ConfigurationError, match="no matching PEM certificate and key"):
        saler_tracing.configure(
            environ={
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(pki.client_cert),
                "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(pki.server_key),
            }
        )
