"""Security headers on every response, errors included; CORS only for listed origins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.conftest import MakeUser

EXPECTED = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


def assert_hardened(reply: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert reply.headers.get(name) == value, (name, reply.status_code)
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "server" not in reply.headers


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
    reply = await client.request(method, path, content=b"{" if method == "POST" else None)
    assert reply.status_code == status
    assert_hardened(reply)


async def test_a_body_over_the_limit_is_413_before_anything_reads_it(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/auth/login", content=b"x" * (65 * 1024), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/problem+json"
    assert_hardened(reply)


async def test_oversized_headers_are_431(client: httpx.AsyncClient) -> None:
    reply = await client.get("/health/live", headers={"x-padding": "a" * 20000})
    assert reply.status_code == 431


async def test_cors_grants_listed_origins_only(
    client_for: Callable[..., Awaitable[httpx.AsyncClient]], make_user: MakeUser
) -> None:
    cors = await client_for(cors_origins=("https://app.medai.example",))
    preflight = {
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
    }
    allowed = await cors.options(
        "/appointments", headers={"origin": "https://app.medai.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.medai.example"
    denied = await cors.options(
        "/appointments", headers={"origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers
    simple = await cors.get("/health/live", headers={"origin": "https://app.medai.example"})
    assert "ETag" in simple.headers["access-control-expose-headers"]
