"""A sign-in service written the way FastAPI projects write one: OAuth2 password flow, pwdlib
(argon2 and bcrypt), PyJWT access and refresh tokens, a protected route, an API key route.

No ``from __future__ import annotations``: the ``Annotated[..., Depends(local)]`` parameters
name dependencies local to ``build_app``, which FastAPI could not resolve from strings."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from saler_tracing import auth_event, instrument_fastapi, session_ended, session_started

JWT_SECRET = "jwt-signing-secret-that-must-never-leave-0123456789"
API_KEY = "api-key-value-never-exported-42"
AUDIENCE = "shop-api"
PASSWORDS = {"ahmed@example.com": "correct horse battery staple", "lina@example.com": "s3cr3t!pw"}


def build_app() -> FastAPI:
    # Cheap argon2 parameters keep the suite fast; the span reports whatever the app chose.
    hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192), BcryptHasher(rounds=4)))
    users = {"ahmed@example.com": hasher.hash(PASSWORDS["ahmed@example.com"])}
    bcrypt_only = PasswordHash((BcryptHasher(rounds=4),))
    users["lina@example.com"] = bcrypt_only.hash(PASSWORDS["lina@example.com"])
    oauth2 = OAuth2PasswordBearer(tokenUrl="token", auto_error=True)
    api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
    app = FastAPI()
    instrument_fastapi(app)

    def issue(user: str, kind: str, minutes: float) -> str:
        now = datetime.now(UTC)
        claims = {"sub": user, "aud": AUDIENCE, "typ": kind, "jti": uuid.uuid4().hex}
        claims["exp"] = now + timedelta(minutes=minutes)
        return jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"kid": "k1"})

    def decode(token: str, kind: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], audience=AUDIENCE)
        except jwt.InvalidTokenError:
            raise HTTPException(401, "invalid token") from None
        if claims.get("typ") != kind:
            raise HTTPException(401, "invalid token")
        return claims

    @app.post("/token")
    def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Any:
        address = request.client.host if request.client else None
        stored = users.get(form.username)
        if stored is None or not hasher.verify(form.password, stored):
            auth_event(
                "login",
                outcome="failure",
                reason="bad_password",
                user=form.username,
                client_address=address,
            )
            raise HTTPException(401, "wrong user or password")
        auth_event("login", user=form.username, client_address=address)
        refresh = issue(form.username, "refresh", 60)
        session_started(refresh)
        return {
            "access_token": issue(form.username, "access", 5),
            "refresh_token": refresh,
            "token_type": "bearer",
        }

    @app.get("/me")
    def me(token: Annotated[str, Depends(oauth2)]) -> Any:
        return {"user": decode(token, "access")["sub"]}

    @app.post("/refresh")
    def refresh(body: dict[str, str]) -> Any:
        claims = decode(body["refresh_token"], "refresh")
        auth_event("refresh", user=claims["sub"])
        return {"access_token": issue(claims["sub"], "access", 5)}

    @app.post("/logout")
    def logout(body: dict[str, str]) -> Any:
        claims = decode(body["refresh_token"], "refresh")
        session_ended(body["refresh_token"])
        auth_event("logout", user=claims["sub"])
        return {}

    @app.get("/admin")
    def admin(key: Annotated[str | None, Depends(api_key)]) -> Any:
        if key != API_KEY:
            auth_event("permission_denied", outcome="failure", reason="no_api_key")
            raise HTTPException(403, "forbidden")
        return {"ok": True}

    return app
