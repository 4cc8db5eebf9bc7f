"""Check digits the value detectors share."""

from __future__ import annotations

# A doubled digit's digit sum, as a translation of ASCII bytes: 5 → 1 (10), 9 → 9 (18).
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_valid(digits: str) -> bool:
    """ASCII digits only. Every second digit from the right counts doubled (digit sum);
    summing the bytes keeps the loop in C."""
    odd = digits[-1::-2].encode()
    even = digits[-2::-2].encode().translate(_DOUBLED)
    return (sum(odd) + sum(even) - 48 * len(digits)) % 10 == 0
