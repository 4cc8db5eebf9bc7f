"""The propagators ``configure()`` installs, by the names of ``OTEL_PROPAGATORS``.

``tracecontext`` is ours (:class:`TraceContextPropagator`, the SDK's with Level 2
``tracestate``), ``baggage`` the API's W3C baggage, ``none`` no propagation at all; any other
name is what a package registers in the ``opentelemetry_propagator`` entry-point group, as the
OpenTelemetry API itself loads them (``b3``, ``b3multi``: opentelemetry-propagator-b3;
``jaeger``: opentelemetry-propagator-jaeger; ``xray``: opentelemetry-propagator-aws-xray).
Names are checked against that group when the setting is read, without importing anything, so
a missing package fails ``configure()`` with the variable's name; they are loaded when the
pipeline is built.

The server middleware reads only the header lines the installed propagators name
(:func:`carrier_fields`): with B3 installed, ``x-b3-traceid`` and the rest reach it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator

from saler_tracing._internal.errors import ConfigurationError
from saler_tracing._internal.propagation import TraceContextPropagator

GROUP = "opentelemetry_propagator"
DEFAULT = ("tracecontext", "baggage")
_W3C_FIELDS = frozenset((b"traceparent", b"tracestate", b"baggage"))
_fields = _W3C_FIELDS


_BUILT_IN = frozenset((*DEFAULT, "none"))


def available() -> tuple[str, ...]:
    """Every name ``OTEL_PROPAGATORS`` may hold here: ours and the installed packages'
    (reading every installed package's metadata: only when a name is not ours)."""
    registered = {ep.name for ep in entry_points(group=GROUP)}
    return tuple(sorted({*_BUILT_IN, *registered}))


def check(source: str, names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` lower-cased, or a ``ConfigurationError`` naming ``source`` and what is
    missing (an unknown name usually means the package that registers it is not installed)."""
    wanted = tuple(dict.fromkeys(name.strip().lower() for name in names if name.strip()))
    if not wanted:
        raise ConfigurationError(f"{source}: no propagator named; use `none` for none")
    if "none" in wanted and len(wanted) > 1:
        raise ConfigurationError(f"{source}: `none` cannot be combined with {wanted}")
    if _BUILT_IN.issuperset(wanted):
        return wanted
    known = available()
    missing = [name for name in wanted if name not in known]
    if missing:
        raise ConfigurationError(
            f"{source}: unknown propagator {', '.join(map(repr, missing))}; installed: "
            f"{', '.join(known)} (b3 and b3multi come with opentelemetry-propagator-b3)"
        )
    return wanted


def build(names: tuple[str, ...]) -> TextMapPropagator:
    """The propagator for ``names`` (checked by :func:`check`), and from now on the header
    lines the server middleware hands it."""
    global _fields
    parts: list[TextMapPropagator] = []
    registered = (
        {} if _BUILT_IN.issuperset(names) else {ep.name: ep for ep in entry_points(group=GROUP)}
    )
    for name in names:
        if name == "none":
            continue
        if name == "tracecontext":
            parts.append(TraceContextPropagator())
        elif name == "baggage":
            parts.append(W3CBaggagePropagator())
        else:
            parts.append(registered[name].load()())
    composite = CompositePropagator(parts)
    _fields = frozenset(field.lower().encode("latin-1") for field in composite.fields)
    return composite


def carrier_fields() -> frozenset[bytes]:
    """The header names (lower case, bytes) the installed propagators read."""
    return _fields
