"""Every 401 carries an RFC 6750 challenge, and a refused bearer token says whether to refresh
(expired) or to sign in again (invalid, revoked)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.conftest import PASSWORD, Account, MakeUser, assert_problem
from tests.security.conftest import bearer
from tests.security.test_jwt_attacks import claims_of, forge, with_claims

PLAIN = 'Bearer realm="medai"'
# RFC 6750 §3: auth-param values are quoted strings without '"' or '\'.
INVALID_TOKEN = re.compile(
    r'^Bearer realm="medai", error="invalid_token", error_description="[^"\\]+"$'
)


def challenge(reply: httpx.Response) -> str:
    assert reply.status_code == 401, reply.text
    values = reply.headers.get_list("www-authenticate")
    assert len(values) == 1, values
    return values[0]


def description(reply: httpx.Response) -> str:
    found = re.search(r'error_description="([^"]*)"', challenge(reply))
    assert found is not None, challenge(reply)
    return found.group(1)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["no-header", "another-scheme", "no-token"],
)
async def test_a_request_without_a_bearer_token_gets_the_plain_challenge(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    reply = await client.get("/users/me", headers=headers)
    assert_problem(reply, 401)
    # No error code: the client sent no bearer token to be wrong about (RFC 6750 §3.1).
    assert challenge(reply) == PLAIN


async def test_an_expired_token_asks_for_a_refresh(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    past = int(time.time()) - 3600
    reply = await client.get(
        "/users/me", headers=bearer(forge(with_claims(patient, iat=past, nbf=past, exp=past + 900)))
    )
    body = assert_problem(reply, 401)
    assert INVALID_TOKEN.match(challenge(reply))
    assert "expired" in description(reply)
    assert "expired" in body["detail"]
    assert "refresh" in body["detail"]


async def forged_and_revoked(client: httpx.AsyncClient, patient: Account) -> list[httpx.Response]:
    forged = forge(claims_of(patient.token), key="not-the-secret-" + "y" * 40)
    replies = [
        await client.get("/users/me", headers=bearer(forged)),
        await client.get("/users/me", headers=bearer("not.a.jwt")),
    ]
    logout = await client.post(
        "/auth/logout",
        json={"refresh_token": "mrt_unknown"},
        headers=patient.headers,
    )
    assert logout.status_code == 204
    # Signing out with another token ends nothing; a password change ends every session.
    changed = await client.put(
        f"/users/{patient.id}",
        json={"password": "a brand new passphrase", "current_password": PASSWORD},
        headers=patient.headers,
    )
    assert changed.status_code == 200, changed.text
    replies.append(await client.get("/users/me", headers=patient.headers))
    return replies


async def test_forged_malformed_and_revoked_tokens_ask_for_a_new_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    for reply in await forged_and_revoked(client, patient):
        body = assert_problem(reply, 401)
        assert INVALID_TOKEN.match(challenge(reply))
        assert "expired" not in description(reply)
        assert "invalid" in description(reply)
        assert "sign in" in body["detail"]
        assert "expired" not in body["detail"]


async def test_an_operation_open_to_two_roles_refuses_with_one_challenge(
    client: httpx.AsyncClient,
) -> None:
    # Doctors or admins: Connexion checks the token once per security requirement.
    reply = await client.get("/inference", headers=bearer("not.a.jwt"))
    assert INVALID_TOKEN.match(challenge(reply))


async def test_failed_sign_ins_and_refreshes_carry_the_plain_challenge(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user(login=False)
    wrong = await client.post(
        "/auth/login", json={"email": patient.email, "password": "not my password"}
    )
    form = await client.post(
        "/auth/login",
        data={"grant_type": "password", "username": patient.email, "password": "not it!!"},
    )
    refresh = await client.post("/auth/refresh", json={"refresh_token": "mrt_" + "x" * 43})
    for reply in (wrong, form, refresh):
        assert_problem(reply, 401)
        assert challenge(reply) == PLAIN


async def test_replies_other_than_401_carry_no_challenge(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    assert (await client.get("/users/me", headers=patient.headers)).status_code == 200
    forbidden = await client.get("/audit-events", headers=patient.headers)
    assert_problem(forbidden, 403)
    for reply in (forbidden, await client.get("/health/live")):
        assert "www-authenticate" not in reply.headers
