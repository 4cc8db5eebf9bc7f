"""What every webhook signature scheme is: read the headers into a :class:`Signed` (or say
they are missing or malformed), compute the expected signature for each secret (several at
once: rotation) and compare in constant time; ``sign`` produces the headers for
:func:`send_webhook`. The caller checks the timestamp tolerance and duplicates. The schemes
themselves are in ``providers.py``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["valid", "invalid", "missing", "expired", "duplicate", "malformed"]


class HeaderError(Exception):
    """The signature headers are absent (``missing``) or unreadable (``malformed``)."""

    def __init__(self, outcome: Literal["missing", "malformed"]) -> None:
        super().__init__(outcome)
        self.outcome: Literal["missing", "malformed"] = outcome


@dataclass(frozen=True)
class Signed:
    """What the headers say: the signatures offered, the signing time, the delivery id and the
    event type where the scheme carries them in headers."""

    signatures: tuple[bytes, ...]
    timestamp: int | None
    delivery_id: str | None = None
    event: str | None = None


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def key_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HeaderError("malformed") from None


def unhex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise HeaderError("malformed") from None


class Scheme:
    name = ""
    provider = ""
    body_id: str | None = None
    """The payload key of the delivery id, for a scheme whose headers carry none (Stripe's
    event ``id``). Never guessed: an entity id taken for a delivery id would mark distinct
    deliveries about one order as duplicates."""

    def read(self, headers: Mapping[str, str]) -> Signed:
        raise NotImplementedError

    def validate(self, secret: str | bytes) -> None:
        """Refuse a secret the scheme cannot use, when the verifier is built (not at the
        first delivery, as a 500)."""

    def expected(self, secret: str | bytes, signed: Signed, body: bytes) -> bytes:
        raise NotImplementedError

    def sign(
        self, secret: str | bytes, body: bytes, delivery_id: str, event: str, timestamp: int
    ) -> dict[str, str]:
        raise NotImplementedError

    def matches(self, secrets: Sequence[str | bytes], signed: Signed, body: bytes) -> bool:
        # Every secret and every offered signature is compared, whatever matched first, so the
        # time taken says nothing about which secret (or position) matched.
        found = False
        for secret in secrets:
            want = self.expected(secret, signed, body)
            for offered in signed.signatures:
                found |= hmac.compare_digest(want, offered)
        return found
