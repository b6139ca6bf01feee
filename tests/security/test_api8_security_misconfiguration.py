"""API8:2023 Security Misconfiguration.

Every response carries the OWASP secure headers, errors included, and no server banner; CORS
grants exact configured origins only; every error is problem+json and an unexpected one shows
nothing of the internals; production configuration refuses unsafe settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from domain import users
from service.edge import Edge
from service.settings import ConfigError, Settings
from tests.conftest import MakeUser, assert_problem

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]

EXPECTED = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
APP_ORIGIN = "https://app.medai.example"
PREFLIGHT = {
    "access-control-request-method": "GET",
    "access-control-request-headers": "authorization",
}


def assert_hardened(reply: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert reply.headers.get(name) == value, (name, reply.status_code)
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "server" not in reply.headers


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health/live", 200),
        ("GET", "/users/me", 401),
        ("GET", "/no/such/path", 404),
        ("DELETE", "/auth/login", 405),
        ("POST", "/auth/login", 400),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    post = method == "POST"
    reply = await client.request(
        method,
        path,
        content=b"{" if post else None,
        headers={"content-type": "application/json"} if post else None,
    )
    assert reply.status_code == status
    assert_hardened(reply)
    if status >= 400:
        assert_problem(reply, status)


async def test_size_refusals_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    too_big = await client.post(
        "/auth/login", content=b"x" * (65 * 1024), headers={"content-type": "application/json"}
    )
    assert_problem(too_big, 413)
    assert_hardened(too_big)
    too_many = await client.get("/health/live", headers={"x-padding": "a" * 20000})
    assert_problem(too_many, 431)
    assert_hardened(too_many)


async def test_signed_in_replies_and_tokens_are_never_cached(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    me = await client.get("/users/me", headers=user.headers)
    assert_hardened(me)
    login = await client.post("/auth/login", json={"email": user.email, "password": user.password})
    assert login.headers["cache-control"] == "no-store"


async def test_a_server_banner_from_below_is_removed() -> None:
    async def bannered(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"server", b"uvicorn"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    app = Edge(bannered, routes={}, max_body_bytes=1024)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://medai.test"
    ) as raw:
        reply = await raw.get("/anything")
    assert reply.text == "ok"
    assert_hardened(reply)


# --- errors ----------------------------------------------------------------------------------


async def test_an_unexpected_error_is_a_bare_500_problem_with_no_internals(
    client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user()

    async def broken(*args: object) -> None:
        raise RuntimeError("pool secret=hunter2 at /srv/medai/domain/users.py line 42")

    monkeypatch.setattr(users, "get", broken)
    reply = await client.get("/users/me", headers=user.headers)
    problem = assert_problem(reply, 500)
    assert set(problem) <= {"type", "title", "status", "detail", "instance"}
    for leak in ("hunter2", "RuntimeError", "Traceback", ".py", "/srv/"):
        assert leak not in reply.text
    assert_hardened(reply)


# --- CORS ------------------------------------------------------------------------------------


async def test_cors_grants_a_listed_origin_exactly(client_for: ClientFor) -> None:
    cors = await client_for(cors_origins=(APP_ORIGIN,))
    allowed = await cors.options("/appointments", headers={"origin": APP_ORIGIN, **PREFLIGHT})
    assert allowed.status_code == 200  # a preflight needs no token
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    # Credentials for the one cookie there is, a browser sign-in's refresh token (CSRF-checked).
    assert allowed.headers["access-control-allow-credentials"] == "true"
    simple = await cors.get("/health/live", headers={"origin": APP_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "ETag" in simple.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.medai.example.evil.example", "null"]
)
async def test_cors_grants_nothing_to_an_origin_not_listed(
    client_for: ClientFor, origin: str
) -> None:
    cors = await client_for(cors_origins=(APP_ORIGIN,))
    preflight = await cors.options("/appointments", headers={"origin": origin, **PREFLIGHT})
    simple = await cors.get("/health/live", headers={"origin": origin})
    for reply in (preflight, simple):
        assert "access-control-allow-origin" not in reply.headers
        assert "*" not in reply.headers.get("vary", "")


async def test_a_refused_preflight_is_a_problem_like_any_other_error(
    client_for: ClientFor,
) -> None:
    cors = await client_for(cors_origins=(APP_ORIGIN,))
    headers = {"origin": "https://evil.example", **PREFLIGHT}
    reply = await cors.options("/appointments", headers=headers)
    problem = assert_problem(reply, 400)
    assert problem["type"] == "/docs/problems/invalid-request"
    assert "origin" in problem["detail"]
    assert "access-control-allow-origin" not in reply.headers


async def test_without_configured_origins_cors_grants_nothing(
    client: httpx.AsyncClient,
) -> None:
    preflight = await client.options("/appointments", headers={"origin": APP_ORIGIN, **PREFLIGHT})
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("origin", ["*", "app.medai.example", "null"])
def test_the_configuration_refuses_wildcard_or_malformed_origins(origin: str) -> None:
    with pytest.raises(ConfigError, match="MEDAI_CORS_ORIGINS"):
        Settings(cors_origins=(origin,)).check()


# --- production configuration ----------------------------------------------------------------


def production(**env: str) -> Settings:
    base = {"MEDAI_ENV": "production", "DATABASE_URL": "postgresql://db/medai"}
    return Settings.from_env({**base, **env})


@pytest.mark.parametrize("secret", ["", "secret", "changeme", "short-but-not-default"])
def test_production_refuses_a_missing_default_or_short_jwt_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="MEDAI_JWT_SECRET"):
        production(MEDAI_JWT_SECRET=secret)


def test_production_turns_the_interactive_docs_off_by_default(tmp_path: Path) -> None:
    settings = production(MEDAI_JWT_SECRET="s" * 48, MEDAI_DATA_DIR=str(tmp_path))
    assert settings.swagger_ui is False
