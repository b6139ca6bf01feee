"""Helpers for the OWASP-organised security suite: sign-ins, and one app reached from as many
client addresses as a test needs (the throttle counts per address)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from service.app import create_app
from tests.conftest import PASSWORD, test_settings

BASE_URL = "http://medai.test"


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    """A token pair for a good sign-in (the test fails otherwise)."""
    reply = await client.post("/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    pair: dict[str, Any] = reply.json()
    return pair


def bearer(pair_or_token: dict[str, Any] | str) -> dict[str, str]:
    token = pair_or_token if isinstance(pair_or_token, str) else pair_or_token["access_token"]
    return {"Authorization": f"Bearer {token}"}


class Site:
    """One app, reached from any number of client addresses."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.clients: dict[str, httpx.AsyncClient] = {}

    def at(self, address: str) -> httpx.AsyncClient:
        if address not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
            self.clients[address] = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        return self.clients[address]


SiteFor = Callable[..., Awaitable[Site]]


@pytest.fixture
async def site_for(client: httpx.AsyncClient, database_url: str) -> AsyncIterator[SiteFor]:
    """Apps with other settings on the test database (``client`` has emptied it first)."""
    sites: list[Site] = []

    async def build(**overrides: Any) -> Site:
        application = create_app(test_settings(**overrides), database_url)
        await application.runtime.start()
        sites.append(Site(application))
        return sites[-1]

    yield build
    for site in sites:
        for extra in site.clients.values():
            await extra.aclose()
        await site.app.runtime.stop()
