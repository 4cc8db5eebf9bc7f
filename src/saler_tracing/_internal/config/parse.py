"""One declaration per setting: where it comes from, its default, how it is checked.

A value passed to ``configure()`` wins; otherwise the first environment variable of the
setting that is set (standard ``OTEL_*`` names before our ``SALER_TRACING_*`` ones); otherwise
the default. A bad value raises :class:`ConfigurationError` naming the setting, where the value
came from, and what is accepted.

Why not pydantic-settings: the OTel variables have their own formats (``k=v`` lists with
percent-encoding, millisecond integers, several names for one setting with an order of
precedence) and the error must name exactly one variable; a dozen typed parsers say that
more plainly than a model with aliases and validators, and keep pydantic off the import path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote, urlsplit

from saler_tracing._internal.errors import ConfigurationError

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """A setting: ``name`` is its ``configure()`` spelling, ``env`` its variables in order."""

    name: str
    env: tuple[str, ...]
    default: T
    coerce: Callable[[str, object], T]
    doc: str

    def resolve(self, given: object | None, environ: Mapping[str, str]) -> T:
        if given is not None:
            return self.coerce(f"configure({self.name}=...)", given)
        for var in self.env:
            raw = environ.get(var)
            if raw is not None and raw.strip():
                return self.coerce(var, raw.strip())
        return self.default


def _fail(source: str, value: object, accepted: str) -> ConfigurationError:
    return ConfigurationError(f"{source}: invalid value {value!r}; accepted: {accepted}")


def as_str(source: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(source, value, "a string")
    return value


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

    return coerce


def positive_int(source: str, value: object) -> int:
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if number <= 0:
        raise _fail(source, value, "a whole number greater than 0")
    return number


def non_negative_float(source: str, value: object) -> float:
    try:
        number = (
            float(value)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool)
            else -1.0
        )
    except ValueError:
        number = -1.0
    if not number >= 0:
        raise _fail(source, value, "a number of 0 or more")
    return number


def positive_float(source: str, value: object) -> float:
    try:
        number = (
            float(value)
            if isinstance(value, (int, float, str)) and not isinstance(value, bool)
            else -1.0
        )
    except ValueError:
        number = -1.0
    if not 0 < number < float("inf"):
        raise _fail(source, value, "a number greater than 0")
    return number


def unit_float(source: str, value: object) -> float:
    number = non_negative_float(source, value)
    if number > 1:
        raise _fail(source, value, "a number from 0 to 1")
    return number


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


def string_list(source: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(as_str(source, item) for item in value)
    raise _fail(source, value, "a comma-separated string or a list of strings")
