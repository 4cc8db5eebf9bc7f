"""The parsers of setting values: from code (a typed value) or the environment (text).

Each takes ``source`` (where the value came from: ``configure(export.timeout_ms=...)`` or the
variable's name) and the value, and returns it checked, or raises :class:`ConfigurationError`
naming the source and what is accepted. Each carries ``kind``, the type as the settings table
(docs/configuration.md) writes it.

Why not pydantic-settings: the OTel variables have their own formats (``k=v`` lists with
percent-encoding, millisecond integers, several names for one setting with an order of
precedence) and the error must name exactly one variable; a dozen typed parsers say that
more plainly than a model with aliases and validators, and keep pydantic off the import path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from saler_tracing._internal.errors import ConfigurationError

T = TypeVar("T")
Parser = Callable[[str, object], T]


def kind(text: str) -> Callable[[Parser[T]], Parser[T]]:
    """Name the type a parser accepts, for the settings table."""

    def mark(parser: Parser[T]) -> Parser[T]:
        parser.kind = text  # type: ignore[attr-defined]
        return parser

    return mark


def kind_of(parser: Parser[object]) -> str:
    return str(getattr(parser, "kind", "text"))


def _fail(source: str, value: object, accepted: str) -> ConfigurationError:
    return ConfigurationError(f"{source}: invalid value {value!r}; accepted: {accepted}")


@kind("text")
def as_str(source: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(source, value, "a string")
    return value


@kind("true / false")
def as_bool(source: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in {"true", "1", "yes", "on"}:
            return True
        if low in {"false", "0", "no", "off"}:
            return False
    raise _fail(source, value, "true or false")


def choice(*accepted: str) -> Callable[[str, object], str]:
    def coerce(source: str, value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in accepted:
            return value.strip().lower()
        raise _fail(source, value, ", ".join(accepted))

    return kind(" / ".join(f"`{a}`" for a in accepted))(coerce)


@kind("integer > 0")
def positive_int(source: str, value: object) -> int:
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if number <= 0:
        raise _fail(source, value, "a whole number greater than 0")
    return number


def _as_float(value: object) -> float:
    """``value`` as a float, or -1.0 (which every float setting refuses) when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return -1.0
    try:
        return float(value)
    except ValueError:
        return -1.0


@kind("number ≥ 0")
def non_negative_float(source: str, value: object) -> float:
    number = _as_float(value)
    if not number >= 0:
        raise _fail(source, value, "a number of 0 or more")
    return number


@kind("number > 0")
def positive_float(source: str, value: object) -> float:
    number = _as_float(value)
    if not 0 < number < float("inf"):
        raise _fail(source, value, "a number greater than 0")
    return number


@kind("number 0–1")
def unit_float(source: str, value: object) -> float:
    number = non_negative_float(source, value)
    if number > 1:
        raise _fail(source, value, "a number from 0 to 1")
    return number


@kind("http(s) URL")
def url(source: str, value: object) -> str:
    text = as_str(source, value)
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _fail(source, value, "an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError as exc:
        raise _fail(source, value, "an http:// or https:// URL with a valid port") from exc
    return text


@kind("file path")
def readable_file(source: str, value: object) -> str:
    """A path to a file this process can read (a certificate or key, read when exporting
    starts: a typo must fail ``configure()``, not every export)."""
    text = as_str(source, value)
    try:
        with open(text, "rb"):
            pass
    except OSError as exc:
        raise _fail(source, value, f"a readable file ({exc.strerror or exc})") from exc
    return text


@kind("`k=v,…` (percent-encoded)")
def key_values(source: str, value: object) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoding, as OTEL_EXPORTER_OTLP_HEADERS and
    OTEL_RESOURCE_ATTRIBUTES are written; a mapping is accepted from code."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    text = as_str(source, value)
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise _fail(source, text, "comma-separated key=value pairs (percent-encoded)")
        out[unquote(key.strip())] = unquote(val.strip())
    return out


@kind("comma-separated list")
def string_list(source: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(as_str(source, item) for item in value)
    raise _fail(source, value, "a comma-separated string or a list of strings")


@kind("number > 0")
def above_zero(source: str, value: object) -> float:
    """Like :func:`positive_float`, worded "above 0" (and accepting infinity) as before."""
    number = non_negative_float(source, value)
    if number <= 0:
        raise ConfigurationError(f"{source}: invalid value {value!r}; accepted: a number above 0")
    return number


@kind("number in (0, 1]")
def error_rate(source: str, value: object) -> float:
    rate = positive_float(source, value)
    if rate > 1:
        raise ConfigurationError(f"{source}: invalid value {value!r}; accepted: above 0, up to 1")
    return rate


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}


@kind("`DEBUG` / `INFO` / `WARNING` / `ERROR` / `CRITICAL` or a number")
def log_level(source: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper()
        if text in _LEVELS:
            return _LEVELS[text]
        if text.isdigit():
            return int(text)
    raise _fail(source, value, "DEBUG, INFO, WARNING, ERROR, CRITICAL or a level number")
