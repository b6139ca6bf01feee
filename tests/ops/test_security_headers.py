"""The security headers service/hardening.py promises are on every reply: the API's, the
documentation's, the metrics scrape's, and a crash's that no error handler caught."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service import metrics
from service.app import create_app
from tests.conftest import test_settings as settings_for

COMMON = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.fixture(scope="module")
async def raw(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app with docs and metrics on, and errors that escape every handler answered
    as a server would (a reply, not an exception raised into the test)."""
    app = create_app(settings_for(swagger_ui=True, metrics=True), database_url)
    await app.runtime.start()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as client:
        yield client
    await app.runtime.stop()


def assert_secured(reply: httpx.Response, *, docs: bool = False) -> None:
    for name, value in COMMON.items():
        assert reply.headers.get(name) == value, (name, reply.request.url, reply.status_code)
    policy = reply.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert policy.startswith("default-src 'self'" if docs else "default-src 'none'")
    assert "server" not in reply.headers
    if not docs:
        assert reply.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/metrics"),
        ("HEAD", "/metrics"),
        ("POST", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/health/live"),
        ("GET", "/users/me"),
        ("GET", "/no/such/path"),
        ("PATCH", "/auth/login"),
    ],
)
async def test_every_reply_outside_the_docs_carries_the_api_headers(
    raw: httpx.AsyncClient, method: str, path: str
) -> None:
    reply = await raw.request(method, path)
    assert reply.status_code < 500
    assert_secured(reply)


@pytest.mark.parametrize("path", ["/docs/", "/docs/reference", "/docs/swagger-ui.css"])
async def test_the_documentation_pages_carry_the_headers_with_their_own_policy(
    raw: httpx.AsyncClient, path: str
) -> None:
    reply = await raw.get(path)
    assert reply.status_code < 500
    assert_secured(reply, docs=True)


async def test_a_crash_outside_every_error_handler_still_carries_the_headers(
    raw: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> bytes:
        raise RuntimeError("the metrics registry is gone")

    # /metrics is answered by a middleware outside Connexion's error handlers.
    monkeypatch.setattr(metrics, "render", broken)
    reply = await raw.get("/metrics")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/problem+json"
    assert "RuntimeError" not in reply.text
    assert_secured(reply)
