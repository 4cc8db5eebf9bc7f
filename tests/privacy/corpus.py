"""Realistic sensitive values (and look-alikes that must survive), built deterministically.

Every card passes Luhn, every IBAN passes mod-97: the scrubber is tested against values a
checksum cannot rule out. ``fragments`` are the parts of a value that must not reach the
wire either (the digits of a card without its spaces, the local part of an e-mail…).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    category: str
    value: str
    fragments: tuple[str, ...] = field(default=())
    by_value: bool = True
    """Found by its value alone; otherwise only under a sensitive key/column/parameter name."""

    def all_fragments(self) -> tuple[str, ...]:
        return (self.value, *self.fragments)


_rng = random.Random(20240315)


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(str(_rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for index, ch in enumerate(reversed(body)):
        n = int(ch)
        if index % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return body + str((10 - total % 10) % 10)


def iban_for(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def _digits(n: int) -> str:
    return "".join(str(_rng.randrange(10)) for _ in range(n))


def _group(text: str, size: int, sep: str) -> str:
    return sep.join(text[i : i + size] for i in range(0, len(text), size))


def cards() -> list[Secret]:
    out = []
    prefixes = [
        ("4", 16),
        ("51", 16),
        ("55", 16),
        ("2223", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("4", 19),
        ("588845", 16),
        ("440647", 16),
        ("9682", 16),
        ("62", 16),
        ("3528", 16),
        ("507803", 16),
    ]
    for i, (prefix, length) in enumerate(prefixes * 3):
        number = luhn_complete(prefix, length)
        style = i % 3
        if style == 0:
            shown = number
        elif length == 15:
            shown = f"{number[:4]} {number[4:10]} {number[10:]}"
        else:
            shown = _group(number, 4, " " if style == 1 else "-")
        out.append(Secret("card", shown, (number, number[-10:])))
    return out


def ibans() -> list[Secret]:
    specs = {
        "SA": "80" + "000",
        "AE": "033",
        "KW": "CBKU",
        "QA": "DOHB",
        "BH": "NBOB",
        "OM": "018",
        "EG": "0019",
        "GB": "NWBK",
        "DE": "3704",
        "JO": "CBJO",
        "TR": "00061",
    }
    lengths = {
        "SA": 24,
        "AE": 23,
        "KW": 30,
        "QA": 29,
        "BH": 22,
        "OM": 23,
        "EG": 29,
        "GB": 22,
        "DE": 22,
        "JO": 30,
        "TR": 26,
    }
    out = []
    for i, (country, bank) in enumerate(list(specs.items()) * 2):
        bban = bank + _digits(lengths[country] - 4 - len(bank))
        iban = iban_for(country, bban)
        shown = _group(iban, 4, " ") if i % 2 else iban
        out.append(Secret("iban", shown, (iban, iban[4:])))
    return out


def phones() -> list[Secret]:
    out = []
    for _ in range(5):
        d = _digits(7)
        out.append(
            Secret("phone", f"+966 5{_rng.choice('034569')} {d[:3]} {d[3:]}", (f"5{d}"[-8:], d))
        )
        d = _digits(7)
        out.append(Secret("phone", f"+9715{_rng.choice('0256')}{d}", (d,)))
        d = _digits(8)
        out.append(Secret("phone", f"+20 1{_rng.choice('0125')} {d[:4]} {d[4:]}", (d,)))
        d = _digits(7)
        out.append(Secret("phone", f"05{_rng.randrange(10)}{d}", (d,)))
        d = _digits(7)
        out.append(Secret("phone", f"05{_rng.randrange(10)}-{d[:3]}-{d[3:]}", (d[-7:],)))
        d = _digits(8)
        out.append(Secret("phone", f"01{_rng.choice('0125')}{d}", (d,)))
        d = _digits(7)
        out.append(Secret("phone", f"009665{_rng.randrange(10)}{d}", (d,)))
        d = _digits(7)
        out.append(Secret("phone", f"+1 (415) {d[:3]}-{d[3:]}", (d[:3] + "-" + d[3:],)))
    # Eastern Arabic digits, as typed on an Arabic keyboard.
    out.append(Secret("phone", "٠٥٠١٢٣٤٥٦٧", ("١٢٣٤٥٦٧",)))
    return out


def emails() -> list[Secret]:
    names = [
        "ahmed.alsaud",
        "fatima.zahra",
        "mohammed_92",
        "noura+orders",
        "omar.elsayed",
        "layla.hassan",
        "john.smith",
        "sara-k",
        "abdullah.alqahtani",
        "mariam.ali",
        "khalid1987",
        "emily.chen",
        "yousef.mansour",
        "hala.othman",
        "r.fernandes",
    ]
    domains = [
        "gmail.com",
        "example.com.sa",
        "mail.ae",
        "company.eg",
        "outlook.com",
        "shop.example.co.uk",
        "hotmail.com",
        "stc.com.sa",
    ]
    out = []
    for i, name in enumerate(names * 3):
        domain = domains[i % len(domains)]
        local = f"{name}{i}"
        out.append(Secret("email", f"{local}@{domain}", (local,)))
    return out


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def tokens() -> list[Secret]:
    out = []
    for i in range(8):
        sig = base64.urlsafe_b64encode(_rng.randbytes(32)).rstrip(b"=").decode()
        jwt = ".".join(
            [
                _b64url({"alg": "HS256", "typ": "JWT"}),
                _b64url({"sub": f"user-{i}", "email": f"u{i}@x.com"}),
                sig,
            ]
        )
        out.append(Secret("jwt", jwt, (jwt.split(".")[1], sig)))
    for i in range(6):
        raw = base64.b64encode(_rng.randbytes(24)).decode()
        out.append(Secret("bearer", f"Bearer {raw}", (raw,)))
        cred = base64.b64encode(f"merchant{i}:S3cr3t-{_digits(6)}".encode()).decode()
        out.append(Secret("basic", f"Basic {cred}", (cred,)))
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for _ in range(3):
        key = "AKIA" + "".join(_rng.choice(alnum) for _ in range(16))
        out.append(Secret("cloud", key, (key[4:],)))
        gcp = "AIza" + "".join(_rng.choice(alnum + "abcdefgh_-") for _ in range(35))
        out.append(Secret("cloud", gcp, (gcp[6:],)))
        gh = "ghp_" + "".join(_rng.choice(alnum + "abcdef") for _ in range(36))
        out.append(Secret("cloud", gh, (gh[4:],)))
        stripe = "sk_live_" + "".join(_rng.choice(alnum + "abc") for _ in range(24))
        out.append(Secret("cloud", stripe, (stripe[8:],)))
        slack = "xoxb-" + _digits(11) + "-" + "".join(_rng.choice(alnum) for _ in range(24))
        out.append(Secret("cloud", slack, (slack[5:],)))
    return out


def keyed() -> list[Secret]:
    """Values nobody could recognise without the name they are stored under."""
    values = [
        ("password", "hunter2-Blue!"),
        ("password", "P@ssw0rd!2024"),
        ("password", "كلمةسر٢٠٢٤xyz"),
        ("password", "correct horse battery staple"),
        ("secret", "s3cr3t-webhook-key-9981"),
        ("national_id", "1098765432"),
        ("national_id", "2287654321"),
        ("national_id", "784-1990-1234567-1"),
        ("national_id", "29001011234567"),
        ("cvv", "739"),
        ("cvv", "0412"),
        ("session", "sess_7f3a9c2e11b04d8f"),
        ("session", "a81f2c0d9e7b4c3a8d6e"),
        ("cookie", "sid=af83kd93jd02ks; theme=dark"),
        ("csrf", "csrf-Zx81Qp02Lm77"),
        ("otp", "482913"),
        ("pin", "8524"),
        ("api_key", "live_9f8e7d6c5b4a3f2e1d0c"),
        ("token", "tok_1QwErTy2UiOp3AsDf"),
        ("ssn", "078-05-1120"),
    ]
    return [Secret(f"keyed:{rule}", value, (), by_value=False) for rule, value in values]


def kuwait_civil_id(century: str, birth: str) -> str:
    """A Kuwait civil ID for a YYMMDD birth date, with its mod-11 check digit."""
    weights = (2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    while True:
        body = century + birth + _digits(4)
        check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
        if check < 10:
            return body + str(check)


def national_ids() -> list[Secret]:
    """Gulf identity numbers. Saudi and Kuwaiti ones are found by structure and check digit
    alone; Qatari, Bahraini and Omani ones (no published check digit) with the words people
    write before them, which are part of the value here."""
    out = []
    for first in ("10", "11", "12", "14", "2", "2", "2"):
        number = luhn_complete(first, 10)
        out.append(Secret("national_id", number, (number,)))
    recent = luhn_complete("17", 10)  # a Unix-time look-alike: found only with its label
    out.append(Secret("national_id", f"national id {recent}", (recent,)))
    out.append(Secret("national_id", f"رقم الإقامة {recent}", (recent,)))
    for century, birth in (("2", "880201"), ("2", "991231"), ("3", "040229"), ("3", "150715")):
        number = kuwait_civil_id(century, birth)
        out.append(Secret("national_id", number, (number,)))
    qid = "2" + "87" + "634" + _digits(5)
    out.append(Secret("national_id", f"QID {qid}", (qid,)))
    qid = "3" + "01" + "818" + _digits(5)
    out.append(Secret("national_id", f"رقم الهوية {qid}", (qid,)))
    cpr = "8805" + _digits(5)
    out.append(Secret("national_id", f"CPR {cpr}", (cpr,)))
    cpr = "9912" + _digits(5)
    out.append(Secret("national_id", f"الرقم الشخصي {cpr}", (cpr,)))
    civil = _digits(8)
    out.append(Secret("national_id", f"civil number {civil}", (civil,)))
    out.append(Secret("national_id", f"الرقم المدني {civil}", (civil,)))
    return out


def sensitive() -> list[Secret]:
    return [*cards(), *ibans(), *phones(), *emails(), *tokens(), *keyed(), *national_ids()]


LOOK_ALIKES = (
    "ORD-2024-000123",
    "ORD-2025-118842",
    "SKU-88421-BLK",
    "SKU-10293-XL-RED",
    "2024-03-15T10:22:33+03:00",
    "2025-01-01T00:00:00Z",
    "1710498153123",
    "1710498153123456",
    "550e8400-e29b-41d4-a716-446655440000",
    "9b2f4c3e-1d7a-4e8b-9c0d-2f3e4a5b6c7d",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00f067aa0ba902b7",
    "1,299.00 SAR",
    "ر.س 149.99",
    "AED 2,450.50",
    "EGP 18500",
    "INV/2024/00017",
    "1Z999AA10123456784",
    "طلب رقم 4521",
    "978-3-16-148410-0",
    "15/03/2024",
    "v2.14.3",
    "10.0.0.5",
    "GET /orders/{order_id}",
    "شحنة رقم 88213",
    "qty 3 × 49.90",
    "batch 20240315-0007",
    "+15.00",
    "200",
    "31.5 ms",
    "1234567890",
    "Order 77812345 shipped",
    "HTTP/1.1",
    "pool size 16 of 32",
    # Ten-digit numbers that pass Luhn, as Saudi identity numbers do, and are something else.
    "1764650006",  # a Unix time (2025-12-02)
    "1700000001",
    "created_at 1034567899",
    "Order 1034567899 shipped",
    "invoice no. 2345678904",
    "1034567899.50",
    "invoice 288020122596",  # a Kuwait civil ID's shape, named an invoice
    "28763412345",  # a QID's shape without its label
    "880512345",
    "12345678",
)
