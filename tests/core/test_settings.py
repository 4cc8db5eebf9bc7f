"""Each setting is declared once (config/settings.py); everything else is checked against it:
the option dataclasses, the resolver, the instrument_* keyword arguments and the docs table."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import saler_tracing
from saler_tracing._internal.config import parse, table
from saler_tracing._internal.config.resolve import resolve
from saler_tracing._internal.config.settings import SETTINGS, Setting, group
from saler_tracing._internal.instrument.kit import option
from tests.helpers.pki import Pki, make_pki

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {
    "export": saler_tracing.ExportOptions,
    "sampling": saler_tracing.SamplingOptions,
    "scrubbing": saler_tracing.ScrubbingOptions,
    "api": saler_tracing.ApiOptions,
    "metrics": saler_tracing.MetricsOptions,
}
CODE_ONLY = {"span_exporter", "extra_patterns", "callback"}  # objects, no variable
IDS = [s.name if s.owner == "configure" else f"{s.owner}.{s.name}" for s in SETTINGS]


def _admits(annotation: Any, value: object) -> bool:
    members = (
        typing.get_args(annotation)
        if typing.get_origin(annotation)
        in (
            typing.Union,
            types.UnionType,
        )
        else (annotation,)
    )
    return any(isinstance(value, typing.get_origin(m) or m) for m in members if m is not Any)


@pytest.mark.parametrize("prefix", OPTIONS)
def test_every_option_field_is_a_declared_setting_and_back(prefix: str) -> None:
    cls = OPTIONS[prefix]
    fields = {f.name for f in dataclasses.fields(cls)} - CODE_ONLY
    declared = {s.name.partition(".")[2]: s for s in group(prefix)}
    assert fields == set(declared), f"{cls.__name__} and settings.py disagree"
    hints = typing.get_type_hints(cls)
    for name, setting in declared.items():
        if setting.default is not None:
            assert _admits(hints[name], setting.default), f"{cls.__name__}.{name}: type"


def test_top_level_and_integration_settings_are_parameters() -> None:
    configure_params = set(inspect.signature(saler_tracing.configure).parameters)
    for setting in SETTINGS:
        if setting.owner == "configure" and "." not in setting.name:
            assert setting.name in configure_params
        elif setting.owner != "configure":
            function = getattr(saler_tracing, setting.owner)
            parameter = inspect.signature(function).parameters[setting.name]
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("setting", SETTINGS, ids=IDS)
def test_every_setting_has_a_real_doc_and_its_own_variables(setting: Setting[Any]) -> None:
    assert len(setting.doc.split()) >= 3, f"{setting.name}: a placeholder doc"
    assert setting.env and all(
        re.fullmatch(r"(OTEL|SALER_TRACING)_[A-Z_]+", v) for v in setting.env
    )
    others = {v for s in SETTINGS if s is not setting for v in s.env}
    assert not others & set(setting.env), "a variable declared twice"


_TLS_FILES = {
    "export.certificate": "ca",
    "export.client_certificate": "client_cert",
    "export.client_key": "client_key",
}
# Mutual TLS takes both files or neither: each variable is set with the other's partner.
_PARTNERS = {
    "export.client_certificate": ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "client_key"),
    "export.client_key": ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "client_cert"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _example(setting: Setting[Any], pki: Pki) -> str:
    """A valid value, different from the default, as the environment would write it."""
    if setting.name in _TLS_FILES:
        return str(getattr(pki, _TLS_FILES[setting.name]))
    coerce = setting.coerce
    if coerce is parse.as_bool:
        return "false" if setting.default else "true"
    if coerce is parse.positive_int:
        return str(setting.default + 7)
    if coerce in (parse.non_negative_float, parse.positive_float, parse.above_zero):
        return "0.25"
    if coerce in (parse.unit_float, parse.error_rate):
        return "0.25"
    if coerce is parse.url:
        return "https://collector.example:4318/custom"
    if coerce is parse.key_values:
        return "k=v%20w,service.name=from-attributes"
    if coerce is parse.string_list:
        return "a, b.*"
    if coerce is parse.as_str:
        return "an-example-value-of-16-bytes+"
    if setting.name == "sampling.rules":
        return "route=/health*=>never; name=cron *=>rate:2"
    if setting.name == "propagators":
        return "tracecontext, B3multi"
    accepted = re.findall(r"`([^`]*)`", setting.kind)  # a choice
    return next(value for value in accepted if value != setting.default)


def _resolved(setting: Setting[Any], config: Any) -> Any:
    if setting.name == "scrubbing.hmac_key":
        return config.scrubbing.hmac_key.decode()
    if setting.name in ("export.traces_endpoint", "export.endpoint"):
        return config.export.endpoint
    target = config
    for part in setting.name.split("."):
        target = getattr(target, part)
    return target


@pytest.mark.parametrize("setting", SETTINGS, ids=IDS)
def test_each_variable_reaches_the_resolved_config(
    setting: Setting[Any], monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    for var in setting.env:  # every variable of the setting, each on its own
        raw = _example(setting, pki)
        expected = setting.coerce(var, raw)
        assert expected != setting.default
        environ = {var: raw}
        if setting.name in _PARTNERS:
            partner, field = _PARTNERS[setting.name]
            environ[partner] = str(getattr(pki, field))
        if setting.name.startswith("scrubbing.pseudonymize"):  # they need the key
            environ["SALER_TRACING_SCRUB_HMAC_KEY"] = "a-secret-of-16-bytes-or-more"
        if setting.owner != "configure":
            monkeypatch.setenv(var, raw)
            assert option(setting, None, setting.owner) == expected
            monkeypatch.delenv(var)
            continue
        if setting.name == "export.endpoint":
            expected = expected + "/v1/traces"
        config = resolve(
            environ=environ,
            service_name=None,
            service_version=None,
            environment=None,
            resource_attributes=None,
            disabled=None,
            export=None,
            sampling=None,
            scrubbing=None,
            api=None,
            metrics=None,
        )
        assert _resolved(setting, config) == expected, var


def test_the_docs_table_is_the_declarations() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    assert table.render() in docs, (
        "docs/configuration.md is out of date: run `python scripts/settings_table.py --write`"
    )
    for setting in SETTINGS:
        for var in setting.env:
            assert f"`{var}`" in docs
