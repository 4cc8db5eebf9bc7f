"""Certificates for TLS tests, made by ``openssl`` in a directory of the test's: a CA, a
server certificate for 127.0.0.1 and a client certificate signed by it, and a second CA that
signed neither."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed none of these


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _issue(cwd: Path, name: str, usage: str, extra: str = "") -> None:
    """A key and a certificate for ``name``, signed by ``ca``."""
    subject = ("-subj", f"/CN={name}")
    _openssl("req", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr", *subject, cwd=cwd)
    (cwd / f"{name}.ext").write_text(f"extendedKeyUsage={usage}\n{extra}")
    signed = ("-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2")
    extensions = ("-extfile", f"{name}.ext")
    _openssl("x509", "-req", "-in", f"{name}.csr", *signed, "-out", f"{name}.pem", *extensions,
             cwd=cwd)  # fmt: skip


def _ca(cwd: Path, name: str) -> None:
    """A self-signed CA, ``name.pem`` and ``name.key``."""
    ca = ("-addext", "basicConstraints=critical,CA:TRUE")
    usage = ("-addext", "keyUsage=critical,keyCertSign,cRLSign")
    files = ("-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2")
    _openssl("req", "-x509", *_EC, *files, "-subj", f"/CN={name}", *ca, *usage, cwd=cwd)


def make_pki(cwd: Path) -> Pki:
    if shutil.which("openssl") is None:
        pytest.fail("these tests make their certificates with openssl (apt-get install openssl)")
    _ca(cwd, "ca")
    _ca(cwd, "other")
    _issue(cwd, "server", "serverAuth", "subjectAltName=IP:127.0.0.1\n")
    _issue(cwd, "client", "clientAuth")
    return Pki(
        cwd / "ca.pem",
        cwd / "server.pem",
        cwd / "server.key",
        cwd / "client.pem",
        cwd / "client.key",
        cwd / "other.pem",
    )
