"""Keyed pseudonyms: the same customer gives the same token, and the token says nothing.

``HMAC-SHA256(key, normalised value)``, first 16 hex digits (64 bits: collisions are
negligible at any realistic number of customers, and the token stays short). Without the
key the token cannot be reversed or recomputed by guessing e-mail addresses, which a plain
hash would allow. Normalising (trim; e-mails case-folded; phones reduced to ``+`` and digits)
makes ``Ahmed@Example.com`` and ``ahmed@example.com `` one customer.
"""

from __future__ import annotations

import hashlib
import hmac

from saler_tracing._internal.scrub.numbers import ascii_digits

PREFIX = "[HMAC:"


def normalise(value: str, rule: str) -> str:
    value = value.strip()
    if rule == "email" or "@" in value:
        return value.casefold()
    if rule == "phone":
        digits = "".join(ch for ch in ascii_digits(value) if ch.isdigit())
        return ("+" if value.startswith("+") else "") + digits
    return value


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            # A short key makes the token guessable by brute force over likely values.
            raise ValueError("the HMAC key must be at least 16 bytes")
        self._key = key

    def token(self, value: str, rule: str = "") -> str:
        digest = hmac.new(self._key, normalise(value, rule).encode(), hashlib.sha256)
        return f"{PREFIX}{digest.hexdigest()[:16]}]"
