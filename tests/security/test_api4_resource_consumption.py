"""API4:2023 Unrestricted Resource Consumption.

Bodies and headers are bounded before any handler runs (413, 431); page sizes, offsets and
every string a client sends are bounded in the contract, so a request cannot make the service
read, store or return an unbounded amount. Each test sends the largest accepted value too.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.model import Role
from tests.appointments.conftest import at, book
from tests.conftest import PASSWORD, MakeUser, assert_problem

BODY_LIMIT = 64 * 1024


async def test_a_body_over_the_limit_is_413_before_anything_reads_it(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        "/auth/login",
        content=b"x" * (BODY_LIMIT + 1024),
        headers={"content-type": "application/json"},
    )
    assert_problem(reply, 413)


async def test_a_body_longer_than_its_content_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient,
) -> None:
    # The size guard counts what arrives instead of trusting the header.
    reply = await client.post(
        "/auth/login",
        content=b" " * (BODY_LIMIT + 1024),
        headers={"content-type": "application/json", "content-length": "100"},
    )
    assert_problem(reply, 413)


async def test_a_body_at_the_limit_is_read(client: httpx.AsyncClient) -> None:
    padded = b'{"email": "a@example.org", "password": "x"}'.ljust(BODY_LIMIT, b" ")
    reply = await client.post(
        "/auth/login", content=padded, headers={"content-type": "application/json"}
    )
    assert_problem(reply, 401)


async def test_oversized_headers_are_431(client: httpx.AsyncClient) -> None:
    reply = await client.get("/health/live", headers={"x-padding": "a" * 20000})
    assert_problem(reply, 431)
    assert (await client.get("/health/live", headers={"x-padding": "a" * 8000})).is_success


@pytest.mark.parametrize("path", ["/appointments", "/users", "/audit-events"])
async def test_a_page_holds_at_most_a_hundred_items(
    client: httpx.AsyncClient, make_user: MakeUser, path: str
) -> None:
    admin = await make_user(Role.ADMIN)
    for limit in ("101", "0", "1000000"):
        reply = await client.get(path, params={"limit": limit}, headers=admin.headers)
        assert "the m" in assert_problem(reply, 400)["detail"]  # maximum or minimum
    full = await client.get(path, params={"limit": "100"}, headers=admin.headers)
    assert full.status_code == 200


async def test_user_lists_cannot_skip_past_ten_thousand(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    too_far = await client.get("/users", params={"offset": "10001"}, headers=admin.headers)
    assert "maximum" in assert_problem(too_far, 400)["detail"]
    edge = await client.get("/users", params={"offset": "10000"}, headers=admin.headers)
    assert edge.status_code == 200


def registration(**changes: str) -> dict[str, str]:
    return {"email": "b@example.org", "password": PASSWORD, "full_name": "B", **changes}


@pytest.mark.parametrize(
    ("field", "longest"),
    [("full_name", 200), ("email", 254)],
)
async def test_sign_up_strings_are_bounded(
    client: httpx.AsyncClient, field: str, longest: int
) -> None:
    def value(length: int) -> str:
        if field == "full_name":
            return "a" * length
        domain = "example.org"
        return "a@" + "b" * (length - len(domain) - 3) + "." + domain

    too_long = await client.post("/auth/register", json=registration(**{field: value(longest + 1)}))
    assert "is too long" in assert_problem(too_long, 400)["detail"]
    fits = await client.post("/auth/register", json=registration(**{field: value(longest)}))
    assert fits.status_code == 201, fits.text


async def test_a_sign_in_password_is_bounded_before_bcrypt_sees_it(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "b@example.org", "password": "p" * 1025}
    assert_problem(await client.post("/auth/login", json=body), 400)
    body["password"] = "p" * 1024
    assert_problem(await client.post("/auth/login", json=body), 401)


@pytest.mark.parametrize(("field", "longest"), [("reason", 1000), ("notes", 10000)])
async def test_appointment_texts_are_bounded(
    client: httpx.AsyncClient, make_user: MakeUser, field: str, longest: int
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    created = await book(client, patient, start=1, doctor=doctor)

    async def change(length: int) -> httpx.Response:
        headers = {**admin.headers, "If-Match": '"v1"'}
        url = created.headers["location"]
        return await client.put(url, json={field: "n" * length}, headers=headers)

    # The detail quotes the value, cut short; the boundary below shows the bound refused it.
    assert_problem(await change(longest + 1), 400)
    assert (await change(longest)).status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/users", {"q": "q" * 101}),
        ("/appointments", {"cursor": "c" * 201}),
        ("/audit-events", {"resource_id": "r" * 255}),
        ("/audit-events", {"action": "a" * 65}),
    ],
)
async def test_query_strings_are_bounded(
    client: httpx.AsyncClient, make_user: MakeUser, path: str, params: dict[str, Any]
) -> None:
    admin = await make_user(Role.ADMIN)
    reply = await client.get(path, params=params, headers=admin.headers)
    assert "is too long" in assert_problem(reply, 400)["detail"]


async def test_an_idempotency_key_is_bounded(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    body = {"doctor_id": doctor.id, "start_at": at(1), "end_at": at(1.5)}

    async def post(key: str) -> httpx.Response:
        headers = {**patient.headers, "Idempotency-Key": key}
        return await client.post("/appointments", json=body, headers=headers)

    assert "is too long" in assert_problem(await post("k" * 101), 400)["detail"]
    assert (await post("k" * 100)).status_code == 201
