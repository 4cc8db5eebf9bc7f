"""Ordered head-sampling rules: parsing, checking, and matching at span start.

A rule matches on what is known when the span starts: the route template (the ASGI
middleware resolves it before starting the server span), the method, this service's name,
the span name and the start attributes. The first matching rule decides.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from opentelemetry.util.types import Attributes

from saler_tracing._internal.config.options import SamplingRule
from saler_tracing._internal.errors import ConfigurationError

Kind = Literal["always", "never", "probability", "rate"]
_MATCH_KEYS = ("route", "method", "service", "name")
ROUTE_ATTR = "http.route"
METHOD_ATTR = "http.request.method"


def _fail(source: str, value: object, accepted: str) -> ConfigurationError:
    # Worded as every other setting's error: where the value came from, what is accepted.
    return ConfigurationError(f"{source}: invalid value {value!r}; accepted: {accepted}")


def glob(pattern: str) -> re.Pattern[str]:
    """A compiled ``fnmatch`` glob (``*`` also crosses ``/``: ``/payments/*`` matches all)."""
    return re.compile(fnmatch.translate(pattern))


class RouteSet:
    """Route globs such as the critical routes; matching is cached per route template."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        self._regexes = tuple(glob(p) for p in patterns)
        self._cache: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, route: str | None) -> bool:
        if not route or not self._regexes:
            return False
        found = self._cache.get(route)
        if found is None:
            found = any(r.match(route) for r in self._regexes)
            if len(self._cache) < 4096:  # templates are few; a bound guards odd callers
                self._cache[route] = found
        return found


@dataclass(frozen=True)
class CompiledRule:
    index: int
    kind: Kind
    value: float
    route: re.Pattern[str] | None
    method: str | None
    service: str | None
    name: re.Pattern[str] | None
    attributes: tuple[tuple[str, str], ...]

    @property
    def label(self) -> str:
        return f"rule{self.index}"

    def matches(self, route: str | None, name: str, service: str, attrs: Attributes) -> bool:
        if self.service is not None and self.service != service.lower():
            return False
        if self.route is not None and (not route or not self.route.match(route)):
            return False
        if self.name is not None and not self.name.match(name):
            return False
        if self.method is not None:
            method = attrs.get(METHOD_ATTR) if attrs else None
            if not isinstance(method, str) or method.upper() != self.method:
                return False
        for key, expected in self.attributes:
            if attrs is None or str(attrs.get(key)) != expected:
                return False
        return True


def compile_rules(rules: Sequence[SamplingRule], source: str) -> tuple[CompiledRule, ...]:
    return tuple(_compile(i, rule, source) for i, rule in enumerate(rules))


def _compile(index: int, rule: SamplingRule, source: str) -> CompiledRule:
    decisions: list[tuple[Kind, float]] = []
    if rule.always:
        decisions.append(("always", 1.0))
    if rule.never:
        decisions.append(("never", 0.0))
    if rule.probability is not None:
        if not 0.0 <= rule.probability <= 1.0:
            raise _fail(source, rule, "a probability from 0 to 1")
        decisions.append(("probability", float(rule.probability)))
    if rule.rate is not None:
        if not rule.rate > 0:
            raise _fail(source, rule, "a rate (traces a second) greater than 0")
        decisions.append(("rate", float(rule.rate)))
    if len(decisions) != 1:
        raise _fail(source, rule, "exactly one of always, never, probability, rate per rule")
    kind, value = decisions[0]
    return CompiledRule(
        index=index,
        kind=kind,
        value=value,
        route=glob(rule.route) if rule.route else None,
        method=rule.method.upper() if rule.method else None,
        service=rule.service.lower() if rule.service else None,
        name=glob(rule.name) if rule.name else None,
        attributes=tuple((k, str(v)) for k, v in (rule.attributes or {}).items()),
    )


def parse_rules(source: str, value: object) -> tuple[SamplingRule, ...]:
    """Rules from code (a list of :class:`SamplingRule`) or from the environment.

    Text form: rules separated by ``;``, each ``matchers=>decision``; matchers are
    ``route=``, ``method=``, ``service=``, ``name=`` or ``attr.KEY=`` joined by ``,``
    (``*`` alone matches everything); the decision is ``always``, ``never``, a probability
    such as ``0.05``, or ``rate:N`` traces a second.
    """
    if isinstance(value, str):
        return tuple(_parse_one(source, text) for text in value.split(";") if text.strip())
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, SamplingRule):
                raise _fail(source, item, "SamplingRule objects or the text form")
        rules = tuple(value)
        compile_rules(rules, source)  # fail at configure(), naming the setting
        return rules
    raise _fail(source, value, "a list of SamplingRule or the text form")


_ACCEPTED = "'route=/x*,method=GET=>always|never|0.1|rate:5' rules separated by ';'"


def _parse_one(source: str, text: str) -> SamplingRule:
    match_text, sep, decision = text.partition("=>")
    if not sep:
        raise _fail(source, text.strip(), _ACCEPTED)
    fields: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for item in match_text.split(","):
        item = item.strip()
        if not item or item == "*":
            continue
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not val.strip():
            raise _fail(source, text.strip(), _ACCEPTED)
        if key in _MATCH_KEYS:
            fields[key] = val.strip()
        elif key.startswith("attr.") and len(key) > 5:
            attributes[key[5:]] = val.strip()
        else:
            raise _fail(source, text.strip(), "matchers route, method, service, name, attr.KEY")
    decision = decision.strip().lower()
    kwargs: dict[str, object] = {}
    if decision in ("always", "never"):
        kwargs[decision] = True
    elif decision.startswith("rate:"):
        kwargs["rate"] = _number(source, text, decision[5:])
    else:
        kwargs["probability"] = _number(source, text, decision)
    rule = SamplingRule(**fields, attributes=attributes or None, **kwargs)  # type: ignore[arg-type]
    compile_rules([rule], source)
    return rule


def _number(source: str, text: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise _fail(source, text.strip(), _ACCEPTED) from None
