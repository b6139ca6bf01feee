"""Sign-up, sign-in and refresh rotation through the HTTP API."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD, MakeUser, assert_problem, end_refresh_grace


async def register(client: httpx.AsyncClient, email: str = "Anna@Example.org") -> httpx.Response:
    return await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Anna"}
    )


async def test_register_creates_a_patient_with_a_lowercased_email(
    client: httpx.AsyncClient,
) -> None:
    reply = await register(client)
    assert reply.status_code == 201
    body = reply.json()
    assert body["role"] == "patient"
    assert body["email"] == "anna@example.org"
    assert reply.headers["location"] == f"/users/{body['id']}"


async def test_register_refuses_an_email_differing_only_in_case(client: httpx.AsyncClient) -> None:
    await register(client, "anna@example.org")
    assert_problem(await register(client, "ANNA@example.org"), 409)


async def test_login_refresh_rotation_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client)
    login = await client.post(
        "/auth/login", json={"email": "anna@example.org", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert login.headers["cache-control"] == "no-store"
    first = login.json()
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.json()["email"] == "anna@example.org"
    # Who signed in comes with the tokens: no /users/me needed after a sign-in.
    assert (first["user_id"], first["role"]) == (me.json()["id"], "patient")

    second = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    newest = second.json()["refresh_token"]
    assert newest != first["refresh_token"]

    # Within the grace the same token gets the same pair (two tabs); after it, reuse is theft.
    repeat = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert repeat.json() == second.json()
    end_refresh_grace(database_url)
    reuse = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401)
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": newest}), 401)


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    wrong = await client.post("/auth/login", json={"email": user.email, "password": "nope-nope"})
    unknown = await client.post(
        "/auth/login", json={"email": "ghost@example.org", "password": "nope-nope"}
    )
    assert assert_problem(wrong, 401) == assert_problem(unknown, 401)
