"""Access rules (the library's): loopback only without a token, the token otherwise; a
non-loopback bind without a token is refused; security headers on every page."""

from __future__ import annotations

import grpc
import httpx
import pytest

from saler_tracing.server.access import Access, BindRefused, check_bind, grpc_peer_host
from saler_tracing.server.app import ServerConfig, TraceServer
from tests.server.harness import server_thread
from tests.server.test_receiver import PB, _valid_request

TOKEN = "s3cret-token"


def test_refuses_non_loopback_bind_without_token() -> None:
    with pytest.raises(BindRefused, match="--token"):
        TraceServer(ServerConfig(host="0.0.0.0", http_port=0, grpc_port=None, db=":memory:"))
    check_bind("0.0.0.0", TOKEN)  # with a token it may
    check_bind("::1", None)
    check_bind("localhost", None)


def test_loopback_rule_without_token() -> None:
    access = Access(None)
    assert access.allowed("127.0.0.1", None, None)
    assert access.allowed("::1", None, None)
    assert not access.allowed("10.0.0.7", None, None)
    assert not access.allowed(None, None, None)
    assert access.grpc_allowed("ipv4:127.0.0.1:5050", {})
    assert not access.grpc_allowed("ipv4:192.168.1.4:5050", {})
    assert not access.grpc_allowed("ipv4:127.0.0.1:5050", {"x-forwarded-for": "203.0.113.9"})
    assert grpc_peer_host("ipv6:[::1]:7000") == "::1"


def test_token_required_everywhere_when_set() -> None:
    with server_thread(token=TOKEN) as server:
        base = f"http://127.0.0.1:{server.http_port}"
        # Even from loopback: with a token configured, the token is the rule.
        assert httpx.get(base + "/api/services").status_code == 401
        assert (
            httpx.post(base + "/v1/traces", content=_valid_request(), headers=PB).status_code == 401
        )
        wrong = {"authorization": "Bearer nope"}
        assert httpx.get(base + "/api/services", headers=wrong).status_code == 401
        good = {"authorization": f"Bearer {TOKEN}"}
        assert httpx.get(base + "/api/services", headers=good).status_code == 200
        assert (
            httpx.post(
                base + "/v1/traces", content=_valid_request(), headers={**PB, **good}
            ).status_code
            == 200
        )
        # The browser: /?token=… trades the token for an HttpOnly cookie.
        with httpx.Client(base_url=base) as browser:
            r = browser.get("/?token=" + TOKEN)
            assert r.status_code == 303
            assert "HttpOnly" in r.headers["set-cookie"]
            assert "SameSite=Strict" in r.headers["set-cookie"]
            assert browser.get("/").status_code == 200
            assert browser.get("/api/services").status_code == 200
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(_valid_request(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(_valid_request(), timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
        channel.close()


def test_security_headers_on_html_and_api() -> None:
    with server_thread() as server:
        base = f"http://127.0.0.1:{server.http_port}"
        for path in ("/", "/static/app.js", "/api/services"):
            r = httpx.get(base + path)
            assert r.status_code == 200, path
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp
            assert "script-src 'self'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
        assert "text/html" in httpx.get(base + "/").headers["content-type"]


@pytest.mark.parametrize(
    "header",
    [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-real-ip", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9"),
        ("x-forwarded-host", "traces.example.com"),
    ],
)
def test_a_proxied_request_without_a_token_is_refused(header: tuple[str, str]) -> None:
    """Behind a proxy on the same host, every caller (from anywhere) arrives from loopback: a
    request that a proxy forwarded is not a local one, so without a token it is refused, on
    the API, the web view and both OTLP receivers."""
    with server_thread() as server:
        base = f"http://127.0.0.1:{server.http_port}"
        assert httpx.get(base + "/api/services").status_code == 200  # local: let in
        proxied = dict([header])
        refused = httpx.get(base + "/api/services", headers=proxied)
        assert refused.status_code == 403
        assert "--token" in refused.json()["error"]
        assert httpx.get(base + "/", headers=proxied).status_code == 403
        post = httpx.post(base + "/v1/traces", content=_valid_request(), headers={**PB, **proxied})
        assert post.status_code == 403
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(_valid_request(), timeout=10, metadata=[header])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        export(_valid_request(), timeout=10)  # not forwarded: let in
        channel.close()


def test_a_proxied_request_with_the_token_is_let_in() -> None:
    with server_thread(token=TOKEN) as server:
        base = f"http://127.0.0.1:{server.http_port}"
        headers = {"x-forwarded-for": "203.0.113.9", "authorization": f"Bearer {TOKEN}"}
        assert httpx.get(base + "/api/services", headers=headers).status_code == 200
