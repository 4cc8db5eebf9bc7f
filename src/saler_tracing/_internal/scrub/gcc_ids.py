"""Identity numbers of the Gulf states in free text, by structure, check digit and context.

``digit_runs`` (``numbers.py``) hands over each run of 8–12 plain digits it did not take for
a card or a phone. What each number needs before it is redacted:

- Saudi national ID / Iqama: 10 digits, first 1 (citizen) or 2 (resident), Luhn. Found by
  structure alone, except from 1500000000 up (Unix times since 2017): those need a word.
- Kuwait civil ID: 12 digits, century 1–3, a real birth date YYMMDD, serial, a mod-11 check
  digit (weights 2,1,6,3,7,9,10,5,8,4,2). Found by structure alone.
- Qatar QID: 11 digits, century 2–3, birth year, a country code 004–894, serial; no
  published check digit. Needs an identity word (bare ``id`` will do).
- Bahrain CPR (9 digits, check digit not published) and Oman civil number (8–9 digits, no
  published structure): need an identity word other than bare ``id``.

The UAE Emirates ID (``784…``, Luhn) is found in ``numbers.py``. Context is the words just
before the number, English and Arabic (``national id``, ``iqama``, ``civil``, ``CPR``,
``QID``, ``هوية``, ``إقامة``, ``سجل مدني``…), the nearest deciding: a word that names
something else (``order``, ``invoice``, ``ts``, ``created_at``, ``فاتورة``…) keeps the number,
even when a structure alone would redact it. Bare ``id`` counts as identity context unless
the word before it names something else (``order id`` is an order number).

Written here, not taken from python-stdnum: this runs on every exported string, after a
cheap length test, and needs the context rule stdnum does not have.
"""

from __future__ import annotations

import re

from saler_tracing._internal.scrub.checksums import luhn_valid

_WORDS = re.compile(r"[a-z]+|[\u0621-\u064a]+")
_WINDOW = 48
_STRONG = frozenset(
    {
        "national",
        "nationalid",
        "nin",
        "iqama",
        "iqamah",
        "civil",
        "civilid",
        "identity",
        "cpr",
        "qid",
        "emirates",
        "resident",
        "residency",
        "هوية",
        "الهوية",
        "هويه",
        "إقامة",
        "اقامة",
        "الإقامة",
        "الاقامة",
        "مدني",
        "المدني",
        "الشخصي",
        "الوطنية",
    }
)
_ID = frozenset({"id", "ids"})
# Words that do not decide: look further back.
_FILLER = frozenset(
    {"no", "nr", "num", "number", "is", "the", "of", "card", "رقم", "بطاقة", "البطاقة", "سجل"}
)
_OTHER = frozenset(
    {
        "order",
        "orders",
        "invoice",
        "inv",
        "sku",
        "ts",
        "time",
        "timestamp",
        "epoch",
        "created",
        "updated",
        "expires",
        "exp",
        "iat",
        "nbf",
        "date",
        "at",
        "since",
        "until",
        "seq",
        "count",
        "amount",
        "total",
        "price",
        "qty",
        "size",
        "bytes",
        "ms",
        "duration",
        "tracking",
        "shipment",
        "ref",
        "reference",
        "transaction",
        "txn",
        "receipt",
        "batch",
        "build",
        "port",
        "pid",
        "trace",
        "span",
        "طلب",
        "الطلب",
        "فاتورة",
        "الفاتورة",
        "شحنة",
        "الشحنة",
        "تاريخ",
        "وقت",
        "مبلغ",
        "سعر",
    }
)
_UNIX_TIMES_FROM = 1_500_000_000  # 2017-07-14: what a 10-digit number in a log usually is
_KUWAIT_WEIGHTS = (2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# What the words before a number say: an identity word, only ``id``, nothing, another thing.
STRONG, ID_ONLY, NONE, NEGATIVE = 2, 1, 0, -1


def context(text: str, start: int) -> int:
    """What the words just before ``start`` say the number is."""
    words = _WORDS.findall(text[max(0, start - _WINDOW) : start].lower())
    saw_id = False
    for word in reversed(words):
        if word in _FILLER:
            continue
        if word in _STRONG:
            return STRONG
        if word in _OTHER:
            return NEGATIVE
        if word in _ID and not saw_id:
            saw_id = True
            continue
        break
    return ID_ONLY if saw_id else NONE


def _date(yy: str, mm: str, dd: str) -> bool:
    month, day = int(mm), int(dd)
    return 1 <= month <= 12 and 1 <= day <= _DAYS[month - 1]


def saudi(d: str) -> bool:
    return len(d) == 10 and d[0] in "12" and luhn_valid(d)


def kuwait(d: str) -> bool:
    if len(d) != 12 or d[0] not in "123" or not _date(d[1:3], d[3:5], d[5:7]):
        return False
    check = 11 - sum(int(c) * w for c, w in zip(d, _KUWAIT_WEIGHTS, strict=False)) % 11
    return check < 10 and check == int(d[11])


def qatar(d: str) -> bool:
    return len(d) == 11 and d[0] in "23" and 4 <= int(d[3:6]) <= 894


def national_id(d: str, text: str, start: int, end: int) -> bool:
    """``d``: the ASCII digits of a run ``text[start:end]`` written without separators."""
    n = len(d)
    if n < 8 or n > 12:
        return False
    if end + 1 < len(text) and text[end] in ".," and text[end + 1].isdigit():
        return False  # a decimal number (a price, a measurement)
    if n == 12:
        return kuwait(d) and context(text, start) != NEGATIVE
    if n == 10:
        if not saudi(d):
            return False
        said = context(text, start)
        if said == NONE:
            return d[0] == "2" or int(d) < _UNIX_TIMES_FROM
        return said > NONE
    if n == 11:
        return qatar(d) and context(text, start) > NONE
    # 8–9 digits are everywhere (ids of every kind): only an identity word will do.
    # Bahrain (check digit not published), Oman (no published structure).
    return context(text, start) == STRONG
