"""Access control of the library's router, over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header

from saler_tracing import ApiOptions, ExportOptions, configure, health_router, shutdown
from tests.helpers.receiver import OtlpHttpReceiver
from tests.helpers.servers import serve

TOKEN = "st-7c1f0a9e4b2d48c6a3e5f7091b2c4d6e"
STATS = "/api/v1/tracing/stats"
HEALTH = "/api/v1/tracing/health"
PROTECTED = [STATS]  # every data endpoint of the router
REFUSED = [
    {},
    {"authorization": "Bearer wrong-token"},
    {"authorization": f"Bearer {TOKEN[:-1]}"},
    {"authorization": f"Basic {TOKEN}"},
    {"authorization": TOKEN},
    {"x-api-key": TOKEN},
]


@contextmanager
def app_with(api: ApiOptions, authorize: Callable[..., Any] | None = None) -> Iterator[str]:
    configure(service_name="api-test", export=ExportOptions(exporter="none"), api=api, environ={})
    app = FastAPI()
    app.include_router(health_router(authorize=authorize))
    with serve(app) as url:
        yield url


def _assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"detail": "unauthorized"}  # no figures, no data


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("headers", REFUSED)
def test_missing_or_wrong_token_gets_401_and_no_data(path: str, headers: dict[str, str]) -> None:
    with app_with(ApiOptions(token=TOKEN)) as url:
        _assert_refused(httpx.get(url + path, headers=headers))


def test_the_token_opens_stats_and_health_details() -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    with app_with(ApiOptions(token=TOKEN)) as url:
        stats = httpx.get(url + STATS, headers=auth)
        assert stats.status_code == 200
        assert stats.json()["health"]["service"] == "api-test"
        assert stats.json()["scrubbing"] == {"spans_scrubbed": 0, "redactions": {}}
        detailed = httpx.get(url + HEALTH, headers=auth).json()
        assert detailed["status"] == "ok"
        assert "export" in detailed


@pytest.mark.parametrize("headers", REFUSED)
def test_health_tells_only_the_status_without_the_token(headers: dict[str, str]) -> None:
    with app_with(ApiOptions(token=TOKEN)) as url:
        response = httpx.get(url + HEALTH, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_with_nothing_configured_stats_is_closed_even_to_loopback() -> None:
    with app_with(ApiOptions()) as url:
        _assert_refused(httpx.get(url + STATS))
        assert httpx.get(url + HEALTH).json() == {"status": "ok"}


def test_allow_loopback_opens_stats_to_direct_local_callers_only() -> None:
    with app_with(ApiOptions(allow_loopback=True)) as url:
        assert httpx.get(url + STATS).status_code == 200
        # A request relayed by a proxy on the same host is not a local caller.
        _assert_refused(httpx.get(url + STATS, headers={"x-forwarded-for": "203.0.113.9"}))
        _assert_refused(httpx.get(url + STATS, headers={"forwarded": "for=203.0.113.9"}))


def _admin_only(x_admin: str | None = Header(default=None)) -> bool:
    return x_admin == "yes"  # False → 401


def test_user_dependency_decides_when_no_token() -> None:
    with app_with(ApiOptions(), authorize=_admin_only) as url:
        _assert_refused(httpx.get(url + STATS))
        _assert_refused(httpx.get(url + STATS, headers={"x-admin": "no"}))
        assert httpx.get(url + STATS, headers={"x-admin": "yes"}).status_code == 200
        assert httpx.get(url + HEALTH).json() == {"status": "ok"}


def test_token_and_dependency_are_both_required_when_both_are_configured() -> None:
    with app_with(ApiOptions(token=TOKEN), authorize=_admin_only) as url:
        auth = {"authorization": f"Bearer {TOKEN}"}
        _assert_refused(httpx.get(url + STATS, headers=auth))
        _assert_refused(httpx.get(url + STATS, headers={"x-admin": "yes"}))
        assert httpx.get(url + STATS, headers={**auth, "x-admin": "yes"}).status_code == 200


def test_stats_never_shows_export_credentials() -> None:
    with OtlpHttpReceiver() as rx:
        endpoint = rx.endpoint.replace("http://", "http://user:pa55word@") + "?key=abc"
        configure(
            service_name="api-test",
            export=ExportOptions(
                traces_endpoint=endpoint,
                headers={"authorization": "Bearer export-secret-123"},
            ),
            api=ApiOptions(token=TOKEN),
            environ={},
        )
        app = FastAPI()
        app.include_router(health_router())
        with serve(app) as url:
            body = httpx.get(url + STATS, headers={"authorization": f"Bearer {TOKEN}"}).text
        shutdown()  # while the receiver still listens (FastAPI may have traced the request)
    assert rx.endpoint.removeprefix("http://") in body
    for secret in ("pa55word", "user:", "key=abc", "export-secret-123", TOKEN):
        assert secret not in body
