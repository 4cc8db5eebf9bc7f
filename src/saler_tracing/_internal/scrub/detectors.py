"""Value detectors: find sensitive values inside free text.

Each detector returns ``(start, end, rule)`` spans. They run on every exported string, so
each one is gated by a plain substring test before any regular expression runs (``@`` for
e-mail, ``eyJ`` for JWTs…), and checksums (Luhn, IBAN mod-97) decide before anything is
redacted, which is what keeps order numbers, timestamps and SKUs intact.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable

from saler_tracing._internal.scrub.numbers import digit_runs

Match = tuple[int, int, str]
Detector = Callable[[str], list[Match]]

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# --- e-mail ---------------------------------------------------------------------------
# Anchored on each ``@`` (found with str.find), the local part read leftwards and the domain
# rightwards, both bounded like RFC 5321 (local part ≤ 64, labels ≤ 63): no regex scan over
# the whole text, and linear time on any input.
# The local part is what ``[\w.+'-]{1,64}\Z`` would find searching the 64 characters before
# the ``@``: it starts after the last character that cannot be in one. ``.*`` runs to the
# ``@`` and backs off a character at a time, so the cost is the local part's length, where
# that search tries every start (tests/privacy/test_detectors_property.py compares the two).
_LAST_STOP = re.compile(r"(?s:.*)[^\w.+'-]")
_DOMAIN = re.compile(r"[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


def _semconv_userinfo(text: str, start: int, local: str) -> bool:
    """``https://REDACTED:REDACTED@host``: credentials already hidden the standard way."""
    return local == "REDACTED" and text[max(0, start - 9) : start] == "REDACTED:"


def emails(text: str) -> list[Match]:
    out: list[Match] = []
    for sign in ("@", "%40"):
        at = text.find(sign)
        while at != -1:
            low = at - 64 if at > 64 else 0
            stop = _LAST_STOP.match(text, low, at)
            start = stop.end() if stop is not None else low
            domain = _DOMAIN.match(text, at + len(sign)) if start < at else None
            # ``pkg@1.2.3`` is a version, not an address: the last label needs a letter.
            if (
                domain
                and not domain.group().rpartition(".")[2].isdigit()
                # (``REDACTED`` is 8 characters: most local parts are not, and skip the call.)
                and not (at - start == 8 and _semconv_userinfo(text, start, text[start:at]))
            ):
                out.append((start, domain.end(), "email"))
            at = text.find(sign, at + len(sign))
    return out


# --- JWT and credentials in Authorization-style text -----------------------------------
# Look-behinds make a token start only where a word starts: without them every ``eyJ`` inside
# one long word would rescan it to its end (quadratic), in the application's thread.
_JWT = re.compile(r"(?<![\w-])eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|digest|negotiate)\s+([\w.~+/=-]{8,})")


def jwts(text: str) -> list[Match]:
    if "eyJ" not in text:
        return []
    return [(m.start(), m.end(), "jwt") for m in _JWT.finditer(text)]


def _looks_like_secret(value: str) -> bool:
    has_digit = any(ch.isdigit() for ch in value)
    mixed = value.lower() != value and value.upper() != value
    return len(value) >= 20 or (len(value) >= 12 and (has_digit or mixed))


def _is_basic(value: str) -> bool:
    try:
        return b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False


def auth_credentials(text: str) -> list[Match]:
    # Plain substring tests (memchr-fast) instead of a case-insensitive regex scan.
    if not (
        "earer" in text
        or "asic" in text
        or "EARER" in text
        or "ASIC" in text
        or "igest" in text
        or "IGEST" in text
        or "egotiate" in text
        or "EGOTIATE" in text
    ):
        return []
    out = []
    for m in _AUTH_SCHEME.finditer(text):
        scheme, value = m.group(1).lower(), m.group(2)
        if scheme == "basic":
            # Base64 may contain ``/``: in a path the credential ends at one of them.
            cuts = [len(value)] + [i for i in range(len(value) - 1, 7, -1) if value[i] == "/"]
            for cut in cuts:
                if _is_basic(value[:cut]):
                    out.append((m.start(), m.start(2) + cut, "basic_auth"))
                    break
        elif _looks_like_secret(value):
            out.append((m.start(), m.end(), "bearer"))
    return out


# --- cloud and service keys ------------------------------------------------------------
_CLOUD = re.compile(
    r"(?<![\w-])(?:(?P<aws_access_key>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
    r"[A-Z0-9]{16})"
    r"|(?P<gcp_api_key>AIza[\w-]{35})"
    r"|(?P<github_token>gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"
    r"|(?P<slack_token>xox[abposr]-[A-Za-z0-9-]{10,})"
    r"|(?P<stripe_key>[sr]k_(?:live|test)_[A-Za-z0-9]{16,})"
    r"|(?P<azure_key>(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{20,})"
    r"|(?P<private_key>-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.|\n)*?"
    r"(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)))"
)


def cloud_keys(text: str) -> list[Match]:
    # Every key starts with one of these; most strings have none of them.
    if not ("A" in text or "gh" in text or "xox" in text or "k_" in text or "-----BEGIN" in text):
        return []
    return [(m.start(), m.end(), m.lastgroup or "cloud_key") for m in _CLOUD.finditer(text)]


# --- IBAN ------------------------------------------------------------------------------
IBAN_LENGTHS = {
    # Gulf and the wider region first: the platform's customers bank there.
    "SA": 24,
    "AE": 23,
    "KW": 30,
    "QA": 29,
    "BH": 22,
    "OM": 23,
    "EG": 29,
    "JO": 30,
    "LB": 28,
    "IQ": 23,
    "PS": 29,
    "TR": 26,
    "PK": 24,
    "DE": 22,
    "GB": 22,
    "FR": 27,
    "NL": 18,
    "ES": 24,
    "IT": 27,
    "BE": 16,
    "CH": 21,
    "AT": 20,
    "IE": 22,
    "PT": 25,
}
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){10,30}")


def iban_valid(compact: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters → numbers, mod 97."""
    if not 15 <= len(compact) <= 34 or not compact.isascii() or not compact.isalnum():
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def ibans(text: str) -> list[Match]:
    out: list[Match] = []
    if text.islower() or len(text) < 15:  # an IBAN has upper-case letters and 15+ characters
        return out
    for m in _IBAN.finditer(text):
        if m.start() > 0 and text[m.start() - 1] in _ALNUM:
            continue
        # The pattern is greedy; try the country's length first, then shorter prefixes.
        positions = [i for i in range(m.start(), m.end()) if text[i] in _ALNUM]
        chars = "".join(text[i] for i in positions)
        known = IBAN_LENGTHS.get(chars[:2])
        lengths = [known] if known else range(min(34, len(chars)), 14, -1)
        for n in lengths:
            if n <= len(chars) and iban_valid(chars[:n]):
                end = positions[n - 1] + 1
                if end < len(text) and text[end] in _ALNUM:
                    continue
                out.append((m.start(), end, "iban"))
                break
    return out


# --- IP addresses (opt-in: client addresses are personal data in some jurisdictions) ----
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?")


def ip_addresses(text: str) -> list[Match]:
    out: list[Match] = []
    if "." in text:
        for m in _IPV4.finditer(text):
            before = text[m.start() - 1] if m.start() else " "
            after = text[m.end()] if m.end() < len(text) else " "
            glued = before in _ALNUM or before == "." or after in _ALNUM or after == "."
            if not glued and _valid_ip(m.group()):
                out.append((m.start(), m.end(), "ip"))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            if m.group().count(":") >= 2 and _valid_ip(m.group()):
                out.append((m.start(), m.end(), "ip"))
    return out


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --- phones and payment cards ------------------------------------------------------------
def numbers(text: str) -> list[Match]:
    return digit_runs(text)


def user_pattern(name: str, pattern: re.Pattern[str]) -> Detector:
    def detect(text: str) -> list[Match]:
        return [(m.start(), m.end(), name) for m in pattern.finditer(text) if m.end() > m.start()]

    return detect
