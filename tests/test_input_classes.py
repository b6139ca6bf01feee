"""Issue 13's input classes that crashed the service (500): each is now a 4xx problem+json that
changes nothing, decided by the request validation (service/validation.py, service/inputs.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from domain.model import Role
from service.inputs import MAX_JSON_DEPTH
from tests.appointments.conftest import at, book
from tests.conftest import Account, MakeUser, assert_problem

Snapshot = Callable[[], Awaitable[tuple[int, ...]]]
GOOD = {"email": "anna@example.org", "password": "a long passphrase", "full_name": "Anna"}


@pytest.fixture
def snapshot(database_url: str) -> Snapshot:
    """Counts of every table a refused request could have written to."""

    async def counts() -> tuple[int, ...]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM refresh_tokens),"
                " (SELECT count(*) FROM appointments), (SELECT count(*) FROM inference_records),"
                " (SELECT max(updated_at)::text FROM appointments) IS NULL"
            )
            row = await cur.fetchone()
            assert row is not None
            return tuple(row)

    return counts


@pytest.fixture
async def admin(make_user: MakeUser) -> Account:
    return await make_user(Role.ADMIN)


# ---- 1. a body with no Content-Type ---------------------------------------------------------


def body_operations(admin: Account, user_id: str, appointment_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/logout"),
        ("PUT", f"/users/{user_id}"),
        ("POST", "/appointments"),
        ("PUT", f"/appointments/{appointment_id}"),
        ("POST", "/inference"),
    ]


async def test_a_json_body_without_content_type_is_a_415_on_every_operation_with_a_body(
    client: httpx.AsyncClient, make_user: MakeUser, admin: Account, snapshot: Snapshot
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    appointment = (await book(client, patient, start=1, doctor=doctor)).json()["id"]
    before = await snapshot()
    for method, path in body_operations(admin, patient.id, appointment):
        reply = await client.request(
            method,
            path,
            content=orjson.dumps(GOOD),
            headers={**admin.headers, "If-Match": '"v1"'},
        )
        assert "content-type" not in reply.request.headers
        problem = assert_problem(reply, 415)
        assert "application/json" in reply.headers["accept"], path
        assert problem["errors"] == [
            {
                "parameter": "Content-Type",
                "in": "header",
                "message": problem["errors"][0]["message"],
            }
        ]
        assert "application/json" in problem["errors"][0]["message"]
    assert await snapshot() == before


async def test_sign_in_without_content_type_names_both_media_types_it_accepts(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post("/auth/login", content=b"username=a&password=b")
    assert_problem(reply, 415)
    accepted = {media.strip() for media in reply.headers["accept"].split(",")}
    assert accepted == {"application/json", "application/x-www-form-urlencoded"}


async def test_a_wrong_content_type_is_a_415_naming_what_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/auth/register", content=orjson.dumps(GOOD), headers={"content-type": "text/plain"}
    )
    problem = assert_problem(reply, 415)
    assert reply.headers["accept"] == "application/json"
    assert "text/plain" in problem["detail"]


async def test_a_json_charset_other_than_utf8_does_not_change_how_the_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    # RFC 8259: JSON exchanged between systems is UTF-8; the parameter has no meaning for it.
    headers = {"content-type": "application/json; charset=no-such-charset"}
    reply = await client.post("/auth/register", content=orjson.dumps(GOOD), headers=headers)
    assert reply.status_code == 201, reply.text


# ---- 2. nesting, 3. lone surrogates: the JSON text itself -----------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30000 + b"]" * 30000,
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
        b'{"email":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",
    ],
    ids=["30000 arrays", "10000 objects", "one past the limit"],
)
async def test_json_nested_deeper_than_the_limit_is_a_400(
    client: httpx.AsyncClient, snapshot: Snapshot, body: bytes
) -> None:
    before = await snapshot()
    reply = await client.post(
        "/auth/register", content=body, headers={"content-type": "application/json"}
    )
    problem = assert_problem(reply, 400)
    assert f"{MAX_JSON_DEPTH} levels" in problem["detail"]
    assert problem["errors"][0]["pointer"] == ""
    assert await snapshot() == before


async def test_json_nested_to_the_limit_is_parsed_and_validated(client: httpx.AsyncClient) -> None:
    # The limit refuses nothing a schema of this API allows; the schema then decides.
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    body = b'{"email":' + nested + b', "password": "a long passphrase", "full_name": "A"}'
    reply = await client.post(
        "/auth/register", content=body, headers={"content-type": "application/json"}
    )
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [{"pointer": "/email", "message": "is not of type 'string'"}]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            "/auth/register",
            b'{"email": "a@example.org", "password": "a long passphrase", "full_name": "A\\ud800"}',
        ),
        (
            "/auth/register",
            b'{"email": "a@example.org", "password": "a long passphrase", '
            b'"full_name": "A", "\\udc00": 1}',
        ),
        ("/auth/login", b'{"email": "\\ud800@example.org", "password": "a long passphrase"}'),
        ("/auth/refresh", b'{"refresh_token": "mrt_\\udfff"}'),
    ],
    ids=["sign-up value", "a member name", "sign-in", "refresh"],
)
async def test_a_lone_surrogate_in_a_string_is_a_400(
    client: httpx.AsyncClient, snapshot: Snapshot, path: str, text: bytes
) -> None:
    before = await snapshot()
    reply = await client.post(path, content=text, headers={"content-type": "application/json"})
    problem = assert_problem(reply, 400)
    assert "surrogate" in problem["detail"]
    assert problem["errors"][0]["pointer"] == ""
    assert await snapshot() == before


async def test_a_surrogate_pair_is_an_ordinary_character(client: httpx.AsyncClient) -> None:
    body = (
        b'{"email": "a@example.org", "password": "a long passphrase", '
        b'"full_name": "A\\ud83d\\ude00"}'
    )
    reply = await client.post(
        "/auth/register", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["full_name"] == "A\U0001f600"


@pytest.mark.parametrize(
    "text", [b"NaN", b'{"email": Infinity}', b"\xef\xbb\xbf{}", b'{"email": "a", ', b"1e999"]
)
async def test_json_that_rfc_8259_does_not_allow_is_a_400(
    client: httpx.AsyncClient, snapshot: Snapshot, text: bytes
) -> None:
    before = await snapshot()
    reply = await client.post(
        "/auth/register", content=text, headers={"content-type": "application/json"}
    )
    problem = assert_problem(reply, 400)
    assert problem["errors"][0]["pointer"] == ""
    assert await snapshot() == before


# ---- 4. cursors ----------------------------------------------------------------------------


def forged(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


async def first_page_cursor(
    client: httpx.AsyncClient, path: str, who: Account, **params: Any
) -> str:
    reply = await client.get(path, params={"limit": 1, **params}, headers=who.headers)
    assert reply.status_code == 200, reply.text
    cursor: str | None = reply.json()["next_cursor"]
    assert cursor is not None
    return cursor


@pytest.fixture
async def lists(client: httpx.AsyncClient, make_user: MakeUser, admin: Account) -> Account:
    """Two appointments for a doctor; the admin's audit trail then holds several events."""
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    for start in (1, 2):
        assert (await book(client, patient, start=start, doctor=doctor)).status_code == 201
    for _ in range(2):
        await client.get("/appointments", headers=admin.headers)
    return doctor


@pytest.mark.parametrize("path", ["/appointments", "/inference", "/audit-events"])
@pytest.mark.parametrize(
    "cursor",
    [
        forged("2030-01-01T00:00:00+00:00", 5),
        forged("2030-01-01T00:00:00+00:00", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f", False),
        forged("2030-01-01T00:00:00", 5),
        forged(None, None, None),
        "not base64 at all!",
        "AAAA",
    ],
    ids=["time and number", "shaped like a real key", "no offset", "nulls", "junk", "short"],
)
async def test_a_cursor_this_list_did_not_issue_is_a_400(
    client: httpx.AsyncClient, admin: Account, path: str, cursor: str
) -> None:
    reply = await client.get(path, params={"cursor": cursor}, headers=admin.headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [
        {"parameter": "cursor", "in": "query", "message": problem["errors"][0]["message"]}
    ]


@pytest.mark.parametrize(
    ("issued_by", "given_to"),
    [
        ("/audit-events", "/appointments"),
        ("/audit-events", "/inference"),
        ("/appointments", "/audit-events"),
        ("/appointments", "/inference"),
    ],
)
async def test_a_cursor_of_another_list_is_a_400(
    client: httpx.AsyncClient, admin: Account, lists: Account, issued_by: str, given_to: str
) -> None:
    cursor = await first_page_cursor(client, issued_by, admin)
    reply = await client.get(given_to, params={"cursor": cursor}, headers=admin.headers)
    assert_problem(reply, 400)


async def test_a_cursor_of_another_caller_is_a_400(
    client: httpx.AsyncClient, admin: Account, lists: Account, make_user: MakeUser
) -> None:
    cursor = await first_page_cursor(client, "/appointments", admin)
    other_admin = await make_user(Role.ADMIN)
    reply = await client.get(
        "/appointments", params={"cursor": cursor}, headers=other_admin.headers
    )
    assert_problem(reply, 400)
    # The caller it was issued to goes on with it.
    mine = await client.get("/appointments", params={"cursor": cursor}, headers=admin.headers)
    assert mine.status_code == 200


async def test_a_cursor_changed_in_one_character_is_a_400(
    client: httpx.AsyncClient, admin: Account, lists: Account
) -> None:
    cursor = await first_page_cursor(client, "/appointments", admin)
    for index in (0, len(cursor) // 2, len(cursor) - 1):
        changed = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
        reply = await client.get("/appointments", params={"cursor": changed}, headers=admin.headers)
        assert_problem(reply, 400)


async def test_a_cursor_of_the_other_sort_order_is_a_400(
    client: httpx.AsyncClient, admin: Account, lists: Account
) -> None:
    cursor = await first_page_cursor(client, "/appointments", admin)
    reply = await client.get(
        "/appointments", params={"cursor": cursor, "sort": "-start_at"}, headers=admin.headers
    )
    assert_problem(reply, 400)


async def test_an_issued_cursor_still_leads_to_the_next_page_of_every_list(
    client: httpx.AsyncClient, admin: Account, lists: Account
) -> None:
    for path in ("/appointments", "/audit-events"):
        cursor = await first_page_cursor(client, path, admin)
        reply = await client.get(path, params={"cursor": cursor, "limit": 1}, headers=admin.headers)
        assert reply.status_code == 200
        assert len(reply.json()["items"]) == 1


# ---- 5. timestamps out of range ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00:00-14:00",
        "0001-01-01T00:00:00+14:00",
        "9000-01-01T00:00:00Z",
        "1899-12-31T23:59:59Z",
        "1900-01-01T00:30:00+01:00",
        "2030-06-31T09:00:00Z",
        "2030-01-01T23:59:60Z",
    ],
)
async def test_a_timestamp_outside_the_documented_range_is_a_400_in_a_body(
    client: httpx.AsyncClient, make_user: MakeUser, snapshot: Snapshot, value: str
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    before = await snapshot()
    body = {"doctor_id": doctor.id, "start_at": value, "end_at": at(1)}
    reply = await client.post("/appointments", json=body, headers=patient.headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [
        {"pointer": "/start_at", "message": problem["errors"][0]["message"]}
    ]
    assert "1900" in problem["errors"][0]["message"]
    assert await snapshot() == before


@pytest.mark.parametrize("path", ["/appointments", "/audit-events"])
@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"])
async def test_a_timestamp_outside_the_documented_range_is_a_400_in_a_query(
    client: httpx.AsyncClient, admin: Account, path: str, name: str, value: str
) -> None:
    reply = await client.get(path, params={name: value}, headers=admin.headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"][0]["parameter"] == name
    assert problem["errors"][0]["in"] == "query"


@pytest.mark.parametrize(
    "value", ["1900-01-01T00:00:00Z", "1900-01-01T01:00:00+01:00", "8999-12-31T23:59:59.999999Z"]
)
async def test_the_ends_of_the_range_are_accepted(
    client: httpx.AsyncClient, admin: Account, value: str
) -> None:
    reply = await client.get("/appointments", params={"from": value}, headers=admin.headers)
    assert reply.status_code == 200, reply.text


# ---- 6. chunked bodies ---------------------------------------------------------------------


async def chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    sent = 0
    yield b'{"email": "a@example.org", "password": "a long passphrase", "full_name": "'
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_a_chunked_body_over_the_limit_is_a_413(
    client: httpx.AsyncClient, snapshot: Snapshot
) -> None:
    before = await snapshot()
    reply = await client.post(
        "/auth/register", content=chunks(200_000), headers={"content-type": "application/json"}
    )
    assert "content-length" not in reply.request.headers
    assert_problem(reply, 413)
    assert await snapshot() == before


async def test_a_chunked_body_within_the_limit_is_read(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        text = orjson.dumps(GOOD)
        for start in range(0, len(text), 7):
            yield text[start : start + 7]

    reply = await client.post(
        "/auth/register", content=body(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 201, reply.text


async def test_an_empty_chunked_body_is_a_400_saying_a_body_is_required(
    client: httpx.AsyncClient,
) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        yield b""

    reply = await client.post(
        "/auth/register", content=nothing(), headers={"content-type": "application/json"}
    )
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [{"pointer": "", "message": "is required"}]


# ---- 7. validation messages fit for people and programs -------------------------------------


async def test_a_malformed_path_parameter_is_a_short_message_naming_it(
    client: httpx.AsyncClient, admin: Account
) -> None:
    reply = await client.get("/users/None", headers=admin.headers)
    problem = assert_problem(reply, 400)
    assert "\n" not in problem["detail"]
    assert "Failed validating" not in problem["detail"]
    assert problem["detail"] == "Path parameter 'user_id' is not a valid uuid."
    assert problem["errors"] == [
        {"parameter": "user_id", "in": "path", "message": "is not a valid uuid"}
    ]


async def test_every_bad_query_parameter_is_listed(
    client: httpx.AsyncClient, admin: Account
) -> None:
    params = {"limit": "0", "doctor_id": "x", "sort": "up", "colour": "blue"}
    reply = await client.get("/appointments", params=params, headers=admin.headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [
        {"parameter": "colour", "in": "query", "message": "is not a parameter of this operation"},
        {"parameter": "doctor_id", "in": "query", "message": "is not a valid uuid"},
        {"parameter": "sort", "in": "query", "message": "is not one of 'start_at', '-start_at'"},
        {"parameter": "limit", "in": "query", "message": "is less than the minimum of 1"},
    ]
    assert problem["detail"].startswith("Query parameter 'colour' is not a parameter")
    assert problem["detail"].endswith("(and 3 more: see errors).")


async def test_a_bad_header_parameter_is_named_as_a_header(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    body = {"doctor_id": doctor.id, "start_at": at(1), "end_at": at(1.5)}
    headers = {**patient.headers, "Idempotency-Key": "k" * 101}
    reply = await client.post("/appointments", json=body, headers=headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [
        {"parameter": "Idempotency-Key", "in": "header", "message": problem["errors"][0]["message"]}
    ]
    assert "is too long" in problem["errors"][0]["message"]


async def test_every_bad_body_member_is_listed_by_json_pointer_without_its_value(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": 42, "password": "p" * 2000, "role": "admin"}
    reply = await client.post("/auth/register", json=body)
    problem = assert_problem(reply, 400)
    assert sorted(problem["errors"], key=lambda e: e["pointer"]) == [
        {"pointer": "/email", "message": "is not of type 'string'"},
        {"pointer": "/full_name", "message": "is required"},
        {"pointer": "/password", "message": "is too long (at most 72 characters)"},
        {"pointer": "/role", "message": "is not allowed here (unknown member)"},
    ]
    assert "ppppp" not in reply.text


async def test_a_pointer_escapes_and_indexes_as_rfc_6901_says(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    body = {"model": "breast-cancer", "features": {"a/b~c": "x"}}
    reply = await client.post("/inference", json=body, headers=doctor.headers)
    problem = assert_problem(reply, 400)
    assert {"pointer": "/features/a~1b~0c", "message": "is not of type 'number'"} in problem[
        "errors"
    ]


async def test_a_window_ending_before_it_starts_names_the_parameter(
    client: httpx.AsyncClient, admin: Account
) -> None:
    params = {"from": at(3), "to": at(1)}
    reply = await client.get("/appointments", params=params, headers=admin.headers)
    problem = assert_problem(reply, 400)
    assert problem["errors"] == [
        {"parameter": "to", "in": "query", "message": "must be after 'from'"}
    ]
