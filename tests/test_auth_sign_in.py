"""Signing in (JSON or the OAuth form), the token pair it returns, and refreshing it."""

from __future__ import annotations

import httpx
import jwt

from tests.conftest import PASSWORD, MakeUser, assert_problem


async def test_a_sign_in_returns_a_short_lived_bearer_token_and_a_refresh_token(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(login=False)
    reply = await client.post("/auth/login", json={"email": patient.email, "password": PASSWORD})
    pair = reply.json()
    assert pair["token_type"] == "Bearer"
    assert 0 < pair["expires_in"] <= 900
    assert pair["refresh_token"].startswith("mrt_")
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == patient.id
    assert claims["exp"] - claims["iat"] == pair["expires_in"]
    assert reply.headers["cache-control"] == "no-store"


async def test_the_email_is_matched_whatever_its_case_and_surrounding_spaces(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(login=False)
    shouted = f"  {patient.email.upper()} "
    reply = await client.post("/auth/login", json={"email": shouted, "password": PASSWORD})
    assert reply.status_code == 200


async def test_the_oauth_password_grant_form_signs_in_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(login=False)
    form = {"grant_type": "password", "username": patient.email, "password": PASSWORD}
    reply = await client.post("/auth/login", data=form)
    assert reply.status_code == 200
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {reply.json()['access_token']}"}
    )
    assert me.json()["id"] == patient.id


async def test_another_oauth_grant_type_is_a_400(client: httpx.AsyncClient) -> None:
    form = {"grant_type": "client_credentials", "username": "a@example.org", "password": "x"}
    assert_problem(await client.post("/auth/login", data=form), 400)


async def test_a_refreshed_access_token_works_and_names_the_same_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(login=False)
    first = await client.post("/auth/login", json={"email": patient.email, "password": PASSWORD})
    refreshed = await client.post(
        "/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
    )
    assert refreshed.headers["cache-control"] == "no-store"
    token = refreshed.json()["access_token"]
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == patient.id


async def test_an_unknown_refresh_token_is_a_401(client: httpx.AsyncClient) -> None:
    reply = await client.post("/auth/refresh", json={"refresh_token": "mrt_never-issued"})
    assert_problem(reply, 401)


async def test_sign_up_answers_the_new_profile_without_any_password(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "new@example.org", "password": PASSWORD, "full_name": "  New Patient "}
    reply = await client.post("/auth/register", json=body)
    profile = reply.json()
    assert profile["full_name"] == "New Patient"
    assert (profile["role"], profile["active"], profile["specialty"]) == ("patient", True, None)
    assert "password" not in reply.text
