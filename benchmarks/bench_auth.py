"""Cost of the auth spans on a sign-in app (OAuth2 password flow, pwdlib, PyJWT), driven
in-process by raw ASGI calls, each variant in its own process, interleaved over rounds:

* ``untraced``  the app, nobody traces it (FastAPI's own telemetry off);
* ``http``      ``configure()`` + ``instrument_fastapi(app)``: server spans only;
* ``auth``      the same + ``instrument_auth()``: password, token and credential spans/figures;
* ``auth_lean`` the same with ``token_spans=False``: a JWT check's outcome on the request's
                span instead of a span of its own.

Two requests: ``GET /me`` (bearer token, one JWT verification: where the auth spans weigh
most) and ``POST /token`` (a login: one argon2 verification with pwdlib's recommended cost
and two JWTs issued). Traced variants export over OTLP/HTTP to a local receiver process and
each timed round includes the flush. Prints medians in µs/request and the ratios to
``untraced``; ``auth − http`` is the cost of the auth spans alone. Run:
``python -m benchmarks.bench_auth [--requests N] [--logins N] [--rounds R] [--repeat P]``.
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

# Imported here, not in build_app, and no ``from __future__ import annotations``: FastAPI
# resolves the endpoints' ``Annotated[..., Depends(...)]`` at run time from module globals.
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

VARIANTS = ("untraced", "http", "auth", "auth_lean")
SECRET = "bench-jwt-secret-of-at-least-32-bytes!"


def build_app(variant: str, endpoint: str) -> tuple[Any, Any]:
    import jwt
    from pwdlib import PasswordHash

    import saler_tracing

    flush: Any = lambda: True  # noqa: E731
    if variant == "untraced":
        app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})  # type: ignore[arg-type]
    else:
        saler_tracing.configure(
            service_name="bench",
            export=saler_tracing.ExportOptions(traces_endpoint=endpoint),
            environ={},
        )
        if variant in ("auth", "auth_lean"):
            saler_tracing.instrument_auth(
                hmac_key="bench-pseudonym-key-0123456789", token_spans=variant == "auth"
            )
        app = FastAPI()
        saler_tracing.instrument_fastapi(app)
        flush = saler_tracing.force_flush
    hasher = PasswordHash.recommended()
    stored = hasher.hash("correct horse battery staple")
    oauth2 = OAuth2PasswordBearer(tokenUrl="token")

    @app.post("/token")
    def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Any:
        if not hasher.verify(form.password, stored):
            raise HTTPException(401)
        saler_tracing.auth_event("login", user=form.username)
        claims = {"sub": form.username, "exp": int(time.time()) + 300}
        return {
            "access_token": jwt.encode(claims, SECRET, algorithm="HS256"),
            "refresh_token": jwt.encode({**claims, "typ": "refresh"}, SECRET, algorithm="HS256"),
        }

    @app.get("/me")
    def me(token: Annotated[str, Depends(oauth2)]) -> Any:  # oauth2: a local, so no strings
        return {"user": jwt.decode(token, SECRET, algorithms=["HS256"])["sub"]}

    return app, flush


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
    }


async def call(app: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    sent: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return sent["status"], sent["body"]


async def drive(app: Any, path: str, count: int, token: str) -> None:
    if path == "/me":
        scope = _scope("GET", "/me", [(b"authorization", f"Bearer {token}".encode())])
        body = b""
    else:
        form = b"username=ahmed%40example.com&password=correct+horse+battery+staple"
        content = [(b"content-type", b"application/x-www-form-urlencoded")]
        scope = _scope("POST", "/token", [*content, (b"content-length", str(len(form)).encode())])
        body = form
    for _ in range(count):
        status, _ = await call(app, dict(scope), body)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")


def child(variant: str, endpoint: str, requests: int, logins: int, rounds: int) -> None:
    app, flush = build_app(variant, endpoint)
    loop = asyncio.new_event_loop()
    form = b"username=ahmed%40example.com&password=correct+horse+battery+staple"
    content = [(b"content-type", b"application/x-www-form-urlencoded")]
    login_scope = _scope("POST", "/token", [*content, (b"content-length", b"%d" % len(form))])
    _, answer = loop.run_until_complete(call(app, login_scope, form))
    token = json.loads(answer)["access_token"]
    loop.run_until_complete(drive(app, "/me", 200, token))  # warm-up
    flush()
    results: dict[str, list[float]] = {"/me": [], "/token": []}
    for _ in range(rounds):
        for path, count in (("/me", requests), ("/token", logins)):
            start = time.perf_counter()
            loop.run_until_complete(drive(app, path, count, token))
            flush()
            results[path].append((time.perf_counter() - start) / count * 1e6)
    print(json.dumps({"variant": variant, "us": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="GET /me per round")
    parser.add_argument("--logins", type=int, default=20, help="POST /token per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per process")
    parser.add_argument("--repeat", type=int, default=3, help="processes per variant")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "ENDPOINT"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.requests, args.logins, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        receiver = subprocess.Popen([sys.executable, "-m", "benchmarks._receiver", str(port_file)])
        try:
            deadline = time.monotonic() + 10
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline:
                    raise SystemExit("benchmark receiver did not start")
                time.sleep(0.02)
            endpoint = f"http://127.0.0.1:{port_file.read_text()}/v1/traces"
            samples: dict[str, dict[str, list[float]]] = {
                v: {"/me": [], "/token": []} for v in VARIANTS
            }
            for _ in range(args.repeat):
                for variant in VARIANTS:  # interleaved, so drift hits every variant alike
                    out = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.bench_auth",
                            "--requests",
                            str(args.requests),
                            "--logins",
                            str(args.logins),
                            "--rounds",
                            str(args.rounds),
                            "--child",
                            variant,
                            endpoint,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    for path, values in json.loads(out.strip().splitlines()[-1])["us"].items():
                        samples[variant][path] += values
        finally:
            receiver.terminate()
            receiver.wait(10)
    for path in ("/me", "/token"):
        base = statistics.median(samples["untraced"][path])
        http = statistics.median(samples["http"][path])
        print(f"{path}: median µs/request over {len(samples['untraced'][path])} rounds")
        for variant in VARIANTS:
            median = statistics.median(samples[variant][path])
            print(f"  {variant:10s} {median:10.1f}   ×{median / base:.3f} of untraced")
        for variant in ("auth", "auth_lean"):
            value = statistics.median(samples[variant][path])
            print(
                f"  {variant} − http: {value - http:+.1f} µs/request, ×{value / http:.3f} of http"
            )


if __name__ == "__main__":
    main()
