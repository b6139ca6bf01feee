"""Listing: filters, the overlapping time window, sorting and cursor paging."""

from __future__ import annotations

import httpx

from domain.model import Role
from tests.appointments.conftest import at, book
from tests.conftest import MakeUser, assert_problem


async def test_the_window_returns_appointments_overlapping_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    for start in (1, 2, 3, 4):  # one-hour visits at 1h, 2h, 3h, 4h
        assert (await book(client, patient, start=start, minutes=60, doctor=doctor)).is_success
    reply = await client.get(
        "/appointments", params={"from": at(2.5), "to": at(4)}, headers=doctor.headers
    )
    assert [item["start_at"] for item in reply.json()["items"]] == [at(2), at(3)]


async def test_statuses_filter_and_descending_sort(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    ids = [(await book(client, patient, start=s, doctor=doctor)).json()["id"] for s in (1, 2, 3)]
    await client.put(
        f"/appointments/{ids[1]}",
        json={"status": "arrived"},
        headers={**doctor.headers, "If-Match": '"v1"'},
    )
    booked = await client.get(
        "/appointments", params={"status": "booked", "sort": "-start_at"}, headers=patient.headers
    )
    assert [item["id"] for item in booked.json()["items"]] == [ids[2], ids[0]]
    both = await client.get(
        "/appointments",
        params=[("status", "booked"), ("status", "arrived")],
        headers=patient.headers,
    )
    assert len(both.json()["items"]) == 3


async def test_cursor_paging_walks_every_row_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    for start in range(1, 8):
        await book(client, patient, start=start, doctor=doctor)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 3}
    while True:
        page = (await client.get("/appointments", params=params, headers=patient.headers)).json()
        seen += [item["start_at"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [at(s) for s in range(1, 8)]


async def test_a_forged_cursor_or_an_inverted_window_is_a_bad_request(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    forged = await client.get("/appointments", params={"cursor": "bm9wZQ"}, headers=patient.headers)
    assert_problem(forged, 400)
    inverted = await client.get(
        "/appointments", params={"from": at(3), "to": at(1)}, headers=patient.headers
    )
    assert_problem(inverted, 400)


async def test_created_after_lists_only_later_bookings(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    first = (await book(client, patient, start=1, doctor=doctor)).json()
    second = (await book(client, patient, start=2, doctor=doctor)).json()
    assert first["created_at"] < second["created_at"]
    reply = await client.get(
        "/appointments", params={"created_after": first["created_at"]}, headers=patient.headers
    )
    assert reply.status_code == 200, reply.text
    assert [item["id"] for item in reply.json()["items"]] == [second["id"]]
    # Scoped as ever: another patient's filter sees nothing of these.
    other = await make_user()
    theirs = await client.get(
        "/appointments", params={"created_after": "2000-01-01T00:00:00Z"}, headers=other.headers
    )
    assert theirs.json()["items"] == []
    assert_problem(
        await client.get(
            "/appointments", params={"created_after": "yesterday"}, headers=patient.headers
        ),
        400,
    )
