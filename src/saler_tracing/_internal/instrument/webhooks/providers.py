"""The signature schemes of the providers: Standard Webhooks, Stripe, GitHub, generic HMAC.

Standard Webhooks signs with the ``standardwebhooks`` library itself (``Webhook.sign``: its
secret decoding, ``whsec_`` base64, is the fiddly part); its ``verify`` is not used because it
fixes the tolerance at five minutes and raises one error for a missing header, an expired
timestamp and a bad signature alike.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from saler_tracing._internal.extras import require
from saler_tracing._internal.instrument.webhooks.schemes import (
    HeaderError,
    Scheme,
    Signed,
    hmac_sha256,
    key_bytes,
    parse_int,
    unhex,
)


class StandardWebhooks(Scheme):
    """``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64> …``."""

    name = provider = "standard"

    def read(self, headers: Mapping[str, str]) -> Signed:
        msg_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        offered = headers.get("webhook-signature")
        if not (msg_id and stamp and offered):
            raise HeaderError("missing")
        signatures = []
        for item in offered.split():
            version, sep, value = item.partition(",")
            if not sep:
                raise HeaderError("malformed")
            if version == "v1":
                try:
                    signatures.append(base64.b64decode(value, validate=True))
                except binascii.Error:
                    raise HeaderError("malformed") from None
        return Signed(tuple(signatures), parse_int(stamp), msg_id)

    def validate(self, secret: str | bytes) -> None:
        try:
            self._hook(secret)
        except (ValueError, RuntimeError) as exc:  # binascii.Error is a ValueError
            raise ValueError(
                "verify_webhook(secrets=...): a Standard Webhooks secret is base64, optionally "
                f"prefixed whsec_ ({type(exc).__name__})"
            ) from None

    def _hook(self, secret: str | bytes) -> object:
        webhooks = require("standardwebhooks", "webhooks")
        return webhooks.Webhook(secret)

    def _signature(self, secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
        when = datetime.fromtimestamp(timestamp, tz=UTC)
        header: str = self._hook(secret).sign(msg_id, when, body.decode())  # type: ignore[attr-defined]
        return header

    def expected(self, secret: str | bytes, signed: Signed, body: bytes) -> bytes:
        assert signed.delivery_id is not None and signed.timestamp is not None
        try:
            text = self._signature(secret, signed.delivery_id, signed.timestamp, body)
        except UnicodeDecodeError:
            return b""  # the scheme signs text: a body that is not UTF-8 matches nothing
        return base64.b64decode(text.partition(",")[2])

    def sign(
        self, secret: str | bytes, body: bytes, delivery_id: str, event: str, timestamp: int
    ) -> dict[str, str]:
        return {
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self._signature(secret, delivery_id, timestamp, body),
        }


class StripeStyle(Scheme):
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`` over ``"<t>." + body``."""

    name = provider = "stripe"
    body_id = "id"

    def read(self, headers: Mapping[str, str]) -> Signed:
        value = headers.get("stripe-signature")
        if not value:
            raise HeaderError("missing")
        stamp: int | None = None
        signatures = []
        for item in value.split(","):
            key, sep, text = item.strip().partition("=")
            if not sep:
                raise HeaderError("malformed")
            if key == "t":
                stamp = parse_int(text)
            elif key == "v1":
                signatures.append(unhex(text))
        if stamp is None:
            raise HeaderError("malformed")
        return Signed(tuple(signatures), stamp)

    def expected(self, secret: str | bytes, signed: Signed, body: bytes) -> bytes:
        return hmac_sha256(key_bytes(secret), f"{signed.timestamp}.".encode() + body)

    def sign(
        self, secret: str | bytes, body: bytes, delivery_id: str, event: str, timestamp: int
    ) -> dict[str, str]:
        digest = hmac_sha256(key_bytes(secret), f"{timestamp}.".encode() + body).hex()
        return {"Stripe-Signature": f"t={timestamp},v1={digest}"}


class GitHub(Scheme):
    """``X-Hub-Signature-256: sha256=<hex>`` over the body; no timestamp (GitHub signs none,
    so only the duplicate check guards against replay)."""

    name = provider = "github"

    def read(self, headers: Mapping[str, str]) -> Signed:
        value = headers.get("x-hub-signature-256")
        if not value:
            raise HeaderError("missing")
        algorithm, sep, text = value.partition("=")
        if not sep or algorithm != "sha256":
            raise HeaderError("malformed")
        return Signed(
            (unhex(text),),
            None,
            headers.get("x-github-delivery"),
            headers.get("x-github-event"),
        )

    def expected(self, secret: str | bytes, signed: Signed, body: bytes) -> bytes:
        return hmac_sha256(key_bytes(secret), body)

    def sign(
        self, secret: str | bytes, body: bytes, delivery_id: str, event: str, timestamp: int
    ) -> dict[str, str]:
        return {
            "X-Hub-Signature-256": "sha256=" + hmac_sha256(key_bytes(secret), body).hex(),
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Event": event,
        }


@dataclass(frozen=True)
class HmacScheme(Scheme):
    """A generic HMAC-SHA256 header, as many payment and shipping gateways sign: the hex (or
    base64) digest of the body, or of ``"<timestamp>." + body`` when a timestamp header is
    named, with an optional prefix such as ``sha256=``."""

    header: str = "X-Signature"
    timestamp_header: str | None = None
    id_header: str | None = "X-Webhook-Id"
    event_header: str | None = "X-Webhook-Event"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    provider: str = "hmac"  # type: ignore[misc]
    name = "hmac"

    def read(self, headers: Mapping[str, str]) -> Signed:
        value = headers.get(self.header.lower())
        stamp = headers.get(self.timestamp_header.lower()) if self.timestamp_header else None
        if not value or (self.timestamp_header and not stamp):
            raise HeaderError("missing")
        if not value.startswith(self.prefix):
            raise HeaderError("malformed")
        text = value[len(self.prefix) :]
        if self.encoding == "hex":
            signature = unhex(text)
        else:
            try:
                signature = base64.b64decode(text, validate=True)
            except binascii.Error:
                raise HeaderError("malformed") from None
        return Signed(
            (signature,),
            parse_int(stamp) if stamp else None,
            headers.get(self.id_header.lower()) if self.id_header else None,
            headers.get(self.event_header.lower()) if self.event_header else None,
        )

    def _message(self, timestamp: int | None, body: bytes) -> bytes:
        return body if timestamp is None else f"{timestamp}.".encode() + body

    def expected(self, secret: str | bytes, signed: Signed, body: bytes) -> bytes:
        return hmac_sha256(key_bytes(secret), self._message(signed.timestamp, body))

    def sign(
        self, secret: str | bytes, body: bytes, delivery_id: str, event: str, timestamp: int
    ) -> dict[str, str]:
        stamp = timestamp if self.timestamp_header else None
        digest = hmac_sha256(key_bytes(secret), self._message(stamp, body))
        text = digest.hex() if self.encoding == "hex" else base64.b64encode(digest).decode()
        headers = {self.header: self.prefix + text}
        if self.timestamp_header:
            headers[self.timestamp_header] = str(timestamp)
        if self.id_header:
            headers[self.id_header] = delivery_id
        if self.event_header:
            headers[self.event_header] = event
        return headers


SchemeName = Literal["standard", "stripe", "github", "hmac"]
_NAMED: dict[str, Scheme] = {
    "standard": StandardWebhooks(),
    "stripe": StripeStyle(),
    "github": GitHub(),
    "hmac": HmacScheme(),
}


def scheme_of(scheme: SchemeName | Scheme, where: str) -> Scheme:
    if isinstance(scheme, Scheme):
        return scheme
    found = _NAMED.get(scheme)
    if found is None:
        raise ValueError(
            f"{where}(scheme={scheme!r}): unknown scheme; accepted: "
            f"{', '.join(_NAMED)} or an HmacScheme(...)"
        )
    return found
