"""Sign-out, password change and deactivation end tokens at once."""

from __future__ import annotations

from typing import Any

import httpx

from domain.model import Role
from tests.conftest import PASSWORD, MakeUser, assert_problem


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    reply = await client.post("/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()


def bearer(pair: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


async def test_logout_ends_the_refresh_and_the_access_token_of_that_sign_in_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    phone, laptop = await sign_in(client, user.email), await sign_in(client, user.email)
    out = await client.post(
        "/auth/logout", json={"refresh_token": phone["refresh_token"]}, headers=bearer(phone)
    )
    assert out.status_code == 204
    assert_problem(await client.get("/users/me", headers=bearer(phone)), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]}), 401
    )
    assert (await client.get("/users/me", headers=bearer(laptop))).status_code == 200


async def test_changing_the_password_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(login=False)
    pair = await sign_in(client, user.email)
    changed = await client.put(
        f"/users/{user.id}",
        json={"password": "a brand new passphrase", "current_password": PASSWORD},
        headers=bearer(pair),
    )
    assert changed.status_code == 200, changed.text
    assert_problem(await client.get("/users/me", headers=bearer(pair)), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401
    )
    await sign_in(client, user.email, "a brand new passphrase")


async def test_deactivation_by_an_admin_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user, admin = await make_user(login=False), await make_user(Role.ADMIN)
    pair = await sign_in(client, user.email)
    off = await client.put(f"/users/{user.id}", json={"active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert_problem(await client.get("/users/me", headers=bearer(pair)), 401)
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401
    )
    bad = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(bad, 401)


async def test_a_common_password_is_refused_at_sign_up(client: httpx.AsyncClient) -> None:
    reply = await client.post(
        "/auth/register",
        json={"email": "p@example.org", "password": "password123", "full_name": "P"},
    )
    assert "common" in assert_problem(reply, 400)["detail"]
