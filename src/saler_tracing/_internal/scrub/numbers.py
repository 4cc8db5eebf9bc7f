"""Phone numbers and payment cards: the detectors that read runs of digits.

A run is digits with the separators people type between them (spaces, dashes, brackets),
so ``+966 50 123 4567`` and ``4111-1111-1111-1111`` are each one run. Within a run,
windows of whole digit groups are tried from the longest: a card needs 13–19 digits, a
known issuer prefix and the Luhn checksum; a phone needs ``+`` or ``00`` with a country code,
or the exact shape of a Saudi/UAE (``05…``, 10 digits) or Egyptian (``01[0125]…``, 11 digits)
mobile number, or ``966 5…``/``971 5…``/``20 1…`` written without the plus. A run that is
neither may be a Gulf identity number (``gcc_ids.py``). Eastern Arabic digits count as
digits. Runs glued to letters (hex ids, ``SKU123…``) are left alone.
"""

from __future__ import annotations

import re

from saler_tracing._internal.scrub.checksums import luhn_valid
from saler_tracing._internal.scrub.gcc_ids import national_id

__all__ = ["card", "digit_runs", "emirates_id", "issuer_known", "luhn_valid", "phone"]

Match = tuple[int, int, str]

# At least 8 characters, so shorter runs (versions, prices, years) never reach Python code;
# and not glued to a word (``SKU123…``, ``ORD-2024-…``, hex ids): the look-behinds refuse a
# start after a letter/digit/underscore or after ``-``/``.`` that follows one.
RUN_PATTERN = r"(?<![A-Za-z_\d])(?<![A-Za-z0-9][-.])[+(\d][\d \-()]{6,}\d"
_RUN = re.compile(RUN_PATTERN)
_GROUP = re.compile(r"\d+")
_TO_ASCII = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# Country codes accepted after a ``00`` international prefix (where ``00`` is ambiguous
# with zero-padded numbers, only the regions the platform serves, plus a few large ones).
_CALLING_CODES = (
    "966",
    "971",
    "20",
    "965",
    "974",
    "973",
    "968",
    "962",
    "961",
    "964",
    "963",
    "967",
    "212",
    "216",
    "213",
    "218",
    "249",
    "90",
    "92",
    "91",
    "44",
    "33",
    "49",
    "1",
)
_MAX_GROUPS = 8
_DROP_SEPARATORS = str.maketrans("", "", " -()+")
_EGYPT_MOBILE = frozenset({"010", "011", "012", "015"})


def ascii_digits(text: str) -> str:
    return text.translate(_TO_ASCII)


def issuer_known(d: str) -> bool:
    """Prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
    UnionPay, Maestro, mada, Meeza). Epoch timestamps (``17…``) and most ids fail here."""
    first = d[0]
    if first in "456":
        return True
    if first == "3":
        return d[1] in "04678" or "3528" <= d[:4] <= "3589"
    if first == "2":
        return "2221" <= d[:4] <= "2720"
    return d.startswith("9682")


def card(d: str, groups: list[str]) -> bool:
    if not 13 <= len(d) <= 19 or not issuer_known(d):
        return False
    # Typed cards come in groups of 4 (Amex 4-6-5); digits split into many short groups
    # are a list of small numbers, not a card.
    if len(groups) > 1 and min(len(g) for g in groups) < 3:
        return False
    return luhn_valid(d)


def phone(d: str, plus: bool) -> bool:
    n = len(d)
    if plus:
        return 8 <= n <= 15 and d[0] != "0"
    if d.startswith("00"):
        return 10 <= n <= 17 and d[2:].startswith(_CALLING_CODES)
    if n == 10:
        return d.startswith("05")
    if n == 11:
        return d[:3] in _EGYPT_MOBILE
    if n == 12:
        return d[:4] in ("9665", "9715") or (d[:3] == "201" and d[3] in "0125")
    return False


def emirates_id(d: str) -> bool:
    """UAE identity numbers: ``784-YYYY-NNNNNNN-C``, 15 digits, Luhn check digit."""
    return len(d) == 15 and d.startswith("784") and luhn_valid(d)


def digit_runs(text: str) -> list[Match]:
    out: list[Match] = []
    for run in _RUN.finditer(text):
        seg = run.group()
        compact = seg.translate(_DROP_SEPARATORS)
        n = len(compact)
        if n < 8:  # most runs (dates, order numbers) end here
            continue
        ascii_run = compact.isascii()
        if not ascii_run:
            compact = ascii_digits(compact)
        start, end = run.span()
        plus = seg[0] == "+"
        # A leading ``(`` is not part of the number (a ``+`` is: it says "international").
        first = start if plus else start + len(seg) - len(seg.lstrip("("))
        glued_after = end < len(text) and text[end] in _LETTERS
        # The common case first: the whole run is one card or one phone number.
        if compact.isascii() and not glued_after:
            # Typed cards come in groups of 3+ digits; many separators mean a list of numbers.
            if 13 <= n <= 19 and (len(seg) - n) * 3 <= n and issuer_known(compact):
                if luhn_valid(compact):
                    out.append((first, end, "card_number"))
                    continue
            elif phone(compact, plus):
                out.append((first, end, "phone"))
                continue
            elif emirates_id(compact) or (n == len(seg) and national_id(compact, text, start, end)):
                out.append((first, end, "national_id"))
                continue
        groups = [
            (
                g.start() + start,
                g.end() + start,
                g.group() if ascii_run else ascii_digits(g.group()),
            )
            for g in _GROUP.finditer(seg)
        ]
        out.extend(_windows(text, groups, plus, start))
    return out


def _windows(
    text: str, groups: list[tuple[int, int, str]], plus: bool, run_start: int
) -> list[Match]:
    out: list[Match] = []
    cum = [0]
    for g in groups:
        cum.append(cum[-1] + len(g[2]))
    i = 0
    while i < len(groups):
        hit = None
        # A card or phone spans at most 8 groups: bounding the window keeps a long run of
        # spaced digits (``1 2 3 …``) linear instead of quadratic.
        for j in range(min(len(groups), i + _MAX_GROUPS) - 1, i - 1, -1):
            n = cum[j + 1] - cum[i]
            if n < 8:
                break
            if n > 19:  # longer than any card or phone: no need to build the string
                continue
            parts = [g[2] for g in groups[i : j + 1]]
            d = "".join(parts)
            end = groups[j][1]
            if end < len(text) and text[end] in _LETTERS:
                continue
            if not d.isascii():
                continue
            if card(d, parts):
                hit = (j, "card_number")
                break
            if phone(d, plus and i == 0):
                hit = (j, "phone")
                break
        if hit is None:
            i += 1
            continue
        j, rule = hit
        begin = run_start if (i == 0 and plus) else groups[i][0]
        out.append((begin, groups[j][1], rule))
        i = j + 1
    return out
