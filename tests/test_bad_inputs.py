"""Issue 2's list of bad inputs: each gets a precise problem+json and changes nothing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from domain.model import Role
from tests import conftest as harness
from tests.conftest import PASSWORD, Account, MakeUser, assert_problem

SECRET = harness.test_settings().jwt_secret
GOOD = {"email": "anna@example.org", "password": PASSWORD, "full_name": "Anna"}
JSON = {"content-type": "application/json"}

Snapshot = Callable[[], Awaitable[tuple[int, ...]]]


@pytest.fixture
def snapshot(database_url: str) -> Snapshot:
    """Counts of everything a bad request could have written."""

    async def counts() -> tuple[int, ...]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM refresh_tokens),"
                " (SELECT count(*) FROM users WHERE role <> 'patient')"
            )
            row = await cur.fetchone()
            assert row is not None
            return tuple(row)

    return counts


async def refused_without_change(
    client: httpx.AsyncClient, snapshot: Snapshot, status: int, **request: Any
) -> dict[str, Any]:
    before = await snapshot()
    reply = await client.request(**{"method": "POST", "url": "/auth/register", **request})
    problem = assert_problem(reply, status)
    assert await snapshot() == before
    return problem


async def test_malformed_json_is_a_400(client: httpx.AsyncClient, snapshot: Snapshot) -> None:
    problem = await refused_without_change(
        client, snapshot, 400, content=b'{"email": "anna@example.org", ', headers=JSON
    )
    assert "line 1 column 31" in problem["detail"]


async def test_a_body_that_is_not_utf8_is_a_400(
    client: httpx.AsyncClient, snapshot: Snapshot
) -> None:
    problem = await refused_without_change(
        client, snapshot, 400, content=b'{"email": "\xff\xfe"}', headers=JSON
    )
    assert "UTF-8" in problem["detail"]


@pytest.mark.parametrize(
    ("field", "value"), [("email", 42), ("password", ["x"]), ("full_name", None)]
)
async def test_a_field_of_the_wrong_type_is_a_400_naming_it(
    client: httpx.AsyncClient, snapshot: Snapshot, field: str, value: Any
) -> None:
    problem = await refused_without_change(client, snapshot, 400, json={**GOOD, field: value})
    assert field in problem["detail"]
    assert [error["pointer"] for error in problem["errors"]] == [f"/{field}"]


@pytest.mark.parametrize("field", ["email", "password", "full_name"])
async def test_a_missing_field_is_a_400_naming_it(
    client: httpx.AsyncClient, snapshot: Snapshot, field: str
) -> None:
    body = {key: value for key, value in GOOD.items() if key != field}
    problem = await refused_without_change(client, snapshot, 400, json=body)
    assert problem["detail"] == f"Body member '/{field}' is required."
    assert problem["errors"] == [{"pointer": f"/{field}", "message": "is required"}]


async def test_an_unknown_field_is_a_400_naming_it(
    client: httpx.AsyncClient, snapshot: Snapshot
) -> None:
    problem = await refused_without_change(client, snapshot, 400, json={**GOOD, "role": "admin"})
    assert problem["errors"] == [
        {"pointer": "/role", "message": "is not allowed here (unknown member)"}
    ]


async def test_a_password_of_73_bytes_is_refused_not_truncated(
    client: httpx.AsyncClient, snapshot: Snapshot
) -> None:
    # 37 characters, so within the schema's maxLength: the byte rule itself refuses it.
    password = "é" * 36 + "x"
    assert len(password.encode()) == 73
    problem = await refused_without_change(
        client, snapshot, 400, json={**GOOD, "password": password}
    )
    assert "72 bytes" in problem["detail"]


async def test_a_password_of_72_bytes_is_accepted_and_works(client: httpx.AsyncClient) -> None:
    password = "é" * 36
    reply = await client.post("/auth/register", json={**GOOD, "password": password})
    assert reply.status_code == 201, reply.text
    login = await client.post("/auth/login", json={"email": GOOD["email"], "password": password})
    assert login.status_code == 200
    truncated = {"email": GOOD["email"], "password": password[:-1]}
    assert_problem(await client.post("/auth/login", json=truncated), 401)


async def test_a_duplicate_email_is_a_409_whatever_its_case(
    client: httpx.AsyncClient, snapshot: Snapshot
) -> None:
    assert (await client.post("/auth/register", json=GOOD)).status_code == 201
    problem = await refused_without_change(
        client, snapshot, 409, json={**GOOD, "email": "ANNA@Example.org"}
    )
    assert "already exists" in problem["detail"]


def resigned(token: str, *, secret: str = SECRET, typ: str = "at+jwt", **claims: Any) -> str:
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": typ})


def unsigned(token: str) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"at+jwt"}').decode()
    return f"{header}.{token.split('.')[1]}."


ATTACKS: dict[str, Callable[[Account, str], str]] = {
    "expired": lambda a, _: resigned(a.token, exp=int(time.time()) - 60),
    "forged": lambda a, _: resigned(a.token, secret="an attacker's own secret, 32+ bytes long"),
    "alg none": lambda a, _: unsigned(a.token),
    "wrong audience": lambda a, _: resigned(a.token, aud="another-api"),
    "wrong issuer": lambda a, _: resigned(a.token, iss="another-issuer"),
    "another type of JWT": lambda a, _: resigned(a.token, typ="JWT"),
    "refresh token as bearer": lambda _, refresh: refresh,
    "garbage": lambda _, __: "not.a.jwt",
}


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, make_user: MakeUser) -> tuple[Account, str]:
    """A patient with an access token and the refresh token of the same sign-in."""
    account = await make_user(Role.PATIENT, login=False)
    reply = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    pair = reply.json()
    account.token = pair["access_token"]
    return account, pair["refresh_token"]


async def test_the_genuine_and_an_honestly_resigned_token_are_accepted(
    client: httpx.AsyncClient, signed_in: tuple[Account, str]
) -> None:
    # Guards the attacks below: re-signing itself does not make a token fail.
    account, _ = signed_in
    for token in (account.token, resigned(account.token)):
        reply = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200


@pytest.mark.parametrize("attack", ATTACKS)
async def test_a_bad_token_is_a_401(
    client: httpx.AsyncClient, signed_in: tuple[Account, str], attack: str
) -> None:
    account, refresh = signed_in
    token = ATTACKS[attack](account, refresh)
    reply = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(reply, 401)


async def test_no_token_is_a_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/users/me"), 401)


async def test_a_patient_setting_their_own_role_is_a_403_and_stays_a_patient(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.put(
        f"/users/{patient.id}", json={"role": "admin"}, headers=patient.headers
    )
    assert assert_problem(reply, 403)["refused_fields"] == ["role"]
    me = await client.get("/users/me", headers=patient.headers)
    assert me.json()["role"] == "patient"
