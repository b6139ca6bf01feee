"""Brute force ends in 429s, per account and per address, and the lockout is temporary."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from tests.conftest import PASSWORD, MakeUser, assert_problem

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


async def attempt(client: httpx.AsyncClient, email: str, password: str, ip: str) -> httpx.Response:
    # The ASGI transport's client address is fixed; the per-address key is exercised by giving
    # each simulated address its own client below.
    return await client.post("/auth/login", json={"email": email, "password": password})


async def test_fifty_wrong_passwords_for_one_account_end_in_429_then_recover(
    client_for: ClientFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    limited = await client_for(
        login_max_failures_per_account=5,
        login_max_failures_per_address=1000,
        login_throttle_window=2,
    )
    replies = [await attempt(limited, user.email, "wrong guess!", "x") for _ in range(50)]
    statuses = [reply.status_code for reply in replies]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    throttled = assert_problem(replies[-1], 429)
    assert int(replies[-1].headers["retry-after"]) >= 1
    assert "password" not in throttled["detail"].lower()
    right_too_early = await attempt(limited, user.email, PASSWORD, "x")
    assert right_too_early.status_code == 429
    await asyncio.sleep(2.2)
    assert (await attempt(limited, user.email, PASSWORD, "x")).status_code == 200


async def test_wrong_passwords_across_many_accounts_from_one_address_end_in_429(
    client_for: ClientFor, make_user: MakeUser
) -> None:
    limited = await client_for(
        login_max_failures_per_account=1000, login_max_failures_per_address=8
    )
    statuses = [
        (await attempt(limited, f"user{i}@example.org", "wrong guess!", "x")).status_code
        for i in range(50)
    ]
    assert statuses[:8] == [401] * 8
    assert set(statuses[8:]) == {429}


async def test_existing_and_unknown_emails_are_throttled_alike(
    client_for: ClientFor, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    limited = await client_for(
        login_max_failures_per_account=2, login_max_failures_per_address=1000
    )
    known = [(await attempt(limited, user.email, "wrong!!!", "x")) for _ in range(3)]
    unknown = [(await attempt(limited, "nobody@example.org", "wrong!!!", "x")) for _ in range(3)]
    for a, b in zip(known, unknown, strict=True):
        assert a.status_code == b.status_code
        assert a.json() == b.json()
