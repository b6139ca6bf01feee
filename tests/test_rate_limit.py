"""The per-client request quota (``MEDAI_RATE_LIMIT``, service/ratelimit.py) and the RateLimit
header fields the contract documents on every response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from service.ratelimit import RateLimit
from tests.conftest import assert_problem

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]
APP_ORIGIN = "https://app.medai.example"


async def test_every_response_says_where_the_client_stands_and_the_excess_is_a_429(
    client_for: ClientFor,
) -> None:
    limited = await client_for(rate_limit=3, cors_origins=(APP_ORIGIN,))
    replies = [await limited.get("/users/me") for _ in range(3)]
    assert [reply.status_code for reply in replies] == [401, 401, 401]
    for left, reply in zip([2, 1, 0], replies, strict=True):
        assert reply.headers["ratelimit-policy"] == '"per-client";q=3;w=60'
        policy, remaining, reset = reply.headers["ratelimit"].split(";")
        assert (policy, remaining) == ('"per-client"', f"r={left}")
        assert 1 <= int(reset.removeprefix("t=")) <= 60
    over = await limited.post("/auth/login", json={"email": "a@b.org", "password": "x" * 8})
    problem = assert_problem(over, 429)
    assert problem["type"] == "/docs/problems/too-many-requests"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert over.headers["ratelimit"].startswith('"per-client";r=0;')
    # A browser app can read the refusal and the quota (CORS wraps the limiter).
    from_app = await limited.get("/users/me", headers={"Origin": APP_ORIGIN})
    assert from_app.status_code == 429
    assert from_app.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "RateLimit" in from_app.headers["access-control-expose-headers"]


async def test_probes_are_never_limited(client_for: ClientFor) -> None:
    limited = await client_for(rate_limit=1)
    for _ in range(3):
        live = await limited.get("/health/live")
        assert live.status_code == 200
        assert "ratelimit" not in live.headers


async def test_without_a_quota_nothing_is_limited_or_announced(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert "ratelimit" not in (await client.get("/users/me")).headers


@pytest.mark.parametrize("elapsed", [59.0, 60.0])
async def test_the_window_turns_on_the_clock_and_counts_per_address(elapsed: float) -> None:
    now = [120.0]
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request"}

    limiter = RateLimit(app, quota=1, window=60, clock=lambda: now[0])

    async def call(address: str) -> int:
        scope = {"type": "http", "path": "/users/me", "client": (address, 1)}
        await limiter(scope, receive, send)
        status: int = sent[-2 if sent[-1]["type"] == "http.response.body" else -1]["status"]
        return status

    assert await call("192.0.2.1") == 200
    assert await call("192.0.2.2") == 200  # another address has its own count
    assert await call("192.0.2.1") == 429
    now[0] += elapsed
    assert await call("192.0.2.1") == (429 if elapsed < 60 else 200)
