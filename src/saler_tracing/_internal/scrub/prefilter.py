"""One cheap pass that rejects harmless text before any detector runs.

Most attribute values are harmless (ids, paths, user agents, prose) and most of those are
distinct, so the cache of clean values does not catch them. Running every detector on such a
value costs half a dozen Python calls and as many regex scans. These checks are a *superset*
of what the detectors and the text shapes of :class:`TextScrubber` look at: a value that
passes them cannot produce a finding, so skipping the detectors loses nothing; a value that
does not pass goes through the detectors as before (they decide; this only gates).

Why substring tests and not one combined regex: the combined alternation (with look-behinds
and case-insensitive words) scans every position for every alternative and measured slower
than the detectors it was meant to skip; ``in`` on a ``str`` is a C fast search, and the
few regexes left only run once a cheap test says they might match.

Keep it in step with ``detectors.py``, ``numbers.py``, ``statements.py`` and
``TextScrubber.scrub``: ``tests/privacy/test_prefilter.py`` compares scrubbing with and
without this gate on generated text and on the whole privacy corpus. And keep every test
blind to *which* digit it sees: the scrubber remembers a "nothing here" by
:func:`digit_shape`, which that test file checks too.
"""

from __future__ import annotations

import re

from saler_tracing._internal.scrub import numbers, statements

# Digits -> 0, lower-case hex letters -> x, anything else -> !; used with the separators
# ``digit_runs`` allows deleted.
_SHAPE = bytes(48 if 48 <= b <= 57 else 120 if 97 <= b <= 102 else 33 for b in range(256))
_OTHER = 33  # ``!``
DIGITS_TO_ZERO = bytes(48 if 48 <= b <= 57 else b for b in range(256))
# Detectors reached only through a regex: gated by cheap tests first (see ``harmless``).
_SERVICE_KEYS = re.compile(r"gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_(?:live|test)_|-----BEGIN")
_AWS_GCP = re.compile(r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA|Iza)")
_IBAN_START = re.compile(r"[A-Z]{2}\d{2}")
_RUN = re.compile(numbers.RUN_PATTERN)
_ARABIC_KEYS = re.compile("|".join(statements.ARABIC_KEYS))
_IPV4_PART = re.compile(r"\d\.\d")


# What a text may hold, one bit a detector family; 0 means harmless.
SHAPE = 1  # percent-encoding or a JSON document: the whole text goes through every detector
EMAIL = 2
JWT = 4
AUTH = 8
CLOUD = 16
IBAN = 32
NUMBERS = 64
ASSIGN = 128  # key=value, key: value, Arabic key phrases (also URLs and query strings)
IP = 256
ALL = 511


def families(text: str, redact_ip: bool = False) -> int:
    """The detector families that could find something in ``text`` (0: none can)."""
    found = 0
    ascii_text = text.isascii()
    if ascii_text:
        # Phone and card numbers need a run of 8 digits or more with only the separators
        # ``digit_runs`` allows between them: digits become ``0``, separators go, and the
        # run regex only runs if eight ``0`` follow each other.
        # (``find`` and an int, not ``b"…" in``: for a bytes needle that first tries the
        # needle as an int and clears the TypeError, which costs more than the search.)
        shape = text.encode("ascii").translate(_SHAPE, b" -()+")
        if shape.find(b"00000000") != -1 and _RUN.search(text):
            found = NUMBERS
        if _OTHER not in shape:
            # Only digits, a-f and the separators (UUIDs, hex ids, hashes, plain numbers):
            # no test below can pass on these characters (no marker character, no word the
            # detectors need, no upper case), so digits are all there is to judge.
            return found
    if "%" in text or "{" in text or "[" in text:
        found |= SHAPE
    if "@" in text:
        found |= EMAIL
    if "=" in text or ":" in text:
        found |= ASSIGN
    if "eyJ" in text:
        found |= JWT
    low = text.lower()
    if "earer" in low or "asic" in low or "igest" in low or "egotiate" in low:
        found |= AUTH  # the detector's own gate, case-folded
    if ("gh" in text or "xox" in text or "k_" in text or "-----" in text) and _SERVICE_KEYS.search(
        text
    ):
        found |= CLOUD
    if not ascii_text:
        if "：" in text or _ARABIC_KEYS.search(text):
            found |= ASSIGN  # full-width colon, Arabic key phrases
        if _RUN.search(text):
            found |= NUMBERS  # runs of any script's digits
    if text != low:  # upper-case letters: AWS/GCP keys, IBANs
        if "A" in text and _AWS_GCP.search(text):
            found |= CLOUD
        if _IBAN_START.search(text):
            found |= IBAN
    if redact_ip and (":" in text or _IPV4_PART.search(text)):
        found |= IP
    return found


def digit_shape(text: str) -> bytes:
    """``text`` with every ASCII digit made ``0``: a key under which a verdict of
    :func:`families` may be remembered for every text of that shape.

    Sound because no test above tells one ASCII digit from another: each sees digits only
    as a class (``\\d``, ``[0-9]``, the ``0`` of the digit shape), so texts that differ only
    in their digits get the same families (``tests/privacy/test_prefilter.py`` checks it).
    Ids, paths and notes that differ from span to span only by a number then cost one
    ``translate`` instead of a pass of the prefilter. Encoded as UTF-8 first (``bytes``
    translate is a table lookup a byte; a ``str`` one goes through a dict), with
    ``surrogatepass`` so that any ``str`` has a shape and distinct texts stay distinct.
    """
    return text.encode("utf-8", "surrogatepass").translate(DIGITS_TO_ZERO)


def harmless(text: str, redact_ip: bool = False) -> bool:
    """``True`` when no built-in detector can find anything in ``text``."""
    return not families(text, redact_ip)
