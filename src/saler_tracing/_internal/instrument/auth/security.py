"""FastAPI's security dependencies: was a credential presented?

``OAuth2PasswordBearer``, ``HTTPBearer``, ``HTTPBasic``, ``APIKeyHeader``… read a header,
query parameter or cookie and either return it or answer 401/403. Each call sets
``auth.presence`` (``present``/``missing``) and ``auth.dependency`` (the class) on the
current span and counts ``auth_events_total{event="credential"}`` with outcome ``success``
(reason ``present``) or ``failure`` (reason ``missing``): alert rules count every outcome but
``success`` as a failure. Never the credential.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from saler_tracing._internal.errors import guard
from saler_tracing._internal.instrument.auth import events
from saler_tracing._internal.instrument.kit import Patches, suppressed

_CLASSES = (
    (
        "fastapi.security.oauth2",
        ("OAuth2", "OAuth2PasswordBearer", "OAuth2AuthorizationCodeBearer"),
    ),
    ("fastapi.security.http", ("HTTPBase", "HTTPBasic", "HTTPBearer", "HTTPDigest")),
    ("fastapi.security.api_key", ("APIKeyQuery", "APIKeyHeader", "APIKeyCookie")),
    ("fastapi.security.open_id_connect_url", ("OpenIdConnect",)),
)


def _record(scheme: str, present: bool) -> None:
    if suppressed():
        return
    with guard("auth credential"):
        state = "present" if present else "missing"
        events.count("credential", "success" if present else "failure", state)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes({"auth.presence": state, "auth.dependency": scheme})


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        scheme = type(self).__name__
        try:
            result = await original(self, *args, **kwargs)
        except Exception as exc:
            # auto_error: the dependency answers 401/403 itself when the credential is absent.
            if getattr(exc, "status_code", None) in (401, 403):
                _record(scheme, False)
            raise
        _record(scheme, result is not None)
        return result

    return traced


def patch_security(patches: Patches) -> None:
    import importlib

    for module_name, names in _CLASSES:
        module = importlib.import_module(module_name)
        for name in names:
            cls = getattr(module, name, None)
            if cls is not None and "__call__" in vars(cls):  # only where it is defined
                patches.patch(cls, "__call__", _wrap)
