"""Every refusal is RFC 9457 problem+json, Connexion's own included, and none is a crash."""

from __future__ import annotations

import uuid

import httpx
import pytest

from service.problems import MAX_DETAIL
from tests.conftest import MakeUser, assert_problem


async def test_an_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/no/such/thing"), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/users/{id}", "GET, HEAD, PUT"),
        ("POST", "/users/{id}", "GET, HEAD, PUT"),
        ("PUT", "/users/me", "GET, HEAD"),
        ("GET", "/auth/login", "POST"),
        ("DELETE", "/users", "GET, HEAD"),
    ],
)
async def test_a_method_the_path_does_not_take_is_a_405_listing_all_it_takes(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    reply = await client.request(method, path.format(id=uuid.uuid4()))
    assert_problem(reply, 405)
    assert reply.headers["allow"] == allow


async def test_head_is_answered_where_get_is(client: httpx.AsyncClient) -> None:
    assert (await client.head("/health/live")).status_code == 200


async def test_a_wrong_content_type_is_a_415_problem(client: httpx.AsyncClient) -> None:
    reply = await client.post(
        "/auth/register", content=b"email=a", headers={"content-type": "text/plain"}
    )
    assert_problem(reply, 415)


async def test_a_malformed_id_in_the_path_is_a_400_problem(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.get("/users/not-a-uuid", headers=patient.headers)
    assert "uuid" in assert_problem(reply, 400)["detail"]


async def test_a_query_parameter_out_of_range_or_unknown_is_a_400_problem(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    for params in ({"limit": "0"}, {"limit": "many"}, {"colour": "blue"}):
        assert_problem(await client.get("/users", params=params, headers=patient.headers), 400)


async def test_a_refusal_of_a_huge_value_names_the_rule_not_the_value(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post("/auth/login", json={"email": "x" * 20000, "password": "pass phrase"})
    detail = assert_problem(reply, 400)["detail"]
    assert len(detail) <= MAX_DETAIL
    assert "xxxx" not in reply.text
    assert detail == "Body member '/email' is too long (at most 254 characters)."


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/auth/register",
            {"email": "a@example.org", "password": "pass phrase", "full_name": "A\0"},
        ),
        ("/auth/login", {"email": "a\0@example.org", "password": "pass phrase"}),
    ],
    ids=["sign-up name", "sign-in email"],
)
async def test_text_holding_a_nul_character_is_a_400_not_a_500(
    client: httpx.AsyncClient, path: str, body: dict[str, str]
) -> None:
    # PostgreSQL text cannot hold U+0000; the database refusing it is the client's mistake.
    assert "NUL" in assert_problem(await client.post(path, json=body), 400)["detail"]


async def test_the_oauth_form_sign_in_with_a_nul_character_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    form = {"grant_type": "password", "username": "a\0@example.org", "password": "pass phrase"}
    assert_problem(await client.post("/auth/login", data=form), 400)
