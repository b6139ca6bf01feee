"""Changing appointments: If-Match, the lifecycle per role, deletion."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from domain.model import Role
from persistence.appointments import AppointmentRepository
from persistence.db import Contention
from tests.appointments.conftest import at, book
from tests.conftest import Account, MakeUser, assert_problem


async def put(
    client: httpx.AsyncClient, who: Account, url: str, etag: str | None, **body: Any
) -> httpx.Response:
    headers = dict(who.headers)
    if etag is not None:
        headers["If-Match"] = etag
    return await client.put(url, json=body, headers=headers)


async def test_a_change_without_if_match_is_428_and_with_a_stale_one_412(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    url = created.headers["location"]
    assert_problem(await put(client, patient, url, None, reason="x"), 428)
    first = await put(client, patient, url, '"v1"', reason="first")
    assert first.status_code == 200
    assert first.headers["etag"] == '"v2"'
    assert_problem(await put(client, patient, url, '"v1"', reason="second"), 412)
    assert (await client.get(url, headers=patient.headers)).json()["reason"] == "first"


@pytest.mark.parametrize("precondition", ["*", '"v1", *', 'W/"v1"', "v1"])
async def test_if_match_star_or_a_tag_that_is_not_strong_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, precondition: str
) -> None:
    """``*`` would change whatever is there now, without the lost-update check (README)."""
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    url = created.headers["location"]
    problem = assert_problem(await put(client, patient, url, precondition, reason="x"), 400)
    assert problem["errors"][0]["parameter"] == "If-Match"
    assert problem["errors"][0]["in"] == "header"
    read = (await client.get(url, headers=patient.headers)).json()
    assert (read["version"], read["reason"]) == (1, created.json()["reason"])


async def test_a_list_of_etags_matches_if_one_is_current(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    reply = await put(client, patient, created.headers["location"], '"v9", "v1"', reason="y")
    assert reply.status_code == 200


async def test_a_missing_if_match_is_428_even_beside_nothing_else_wrong_and_400_beside_an_error(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    missing = assert_problem(await put(client, patient, created.headers["location"], None), 428)
    assert missing["type"] == "/docs/problems/precondition-required"
    assert "If-Match" in missing["detail"]
    bad_id = await put(client, patient, "/appointments/not-a-uuid", None, reason="x")
    assert_problem(bad_id, 400)


async def test_two_concurrent_puts_with_the_same_if_match_give_one_200_and_one_412(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    url, etag = created.headers["location"], created.headers["etag"]
    replies = await asyncio.gather(
        put(client, doctor, url, etag, notes="from clerk A"),
        put(client, doctor, url, etag, notes="from clerk B"),
    )
    assert sorted(r.status_code for r in replies) == [200, 412]


async def test_a_change_aborted_by_a_deadlock_is_done_again(
    client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two reschedulings into overlapping times can deadlock on the exclusion check; the one
    PostgreSQL aborts is run again (here the abort is simulated once) instead of a 503."""
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    real_update = AppointmentRepository.update
    aborted: list[bool] = []

    async def update_once_aborted(self: AppointmentRepository, *args: Any, **kwargs: Any) -> Any:
        if not aborted:
            aborted.append(True)
            raise Contention("deadlock detected")
        return await real_update(self, *args, **kwargs)

    monkeypatch.setattr(AppointmentRepository, "update", update_once_aborted)
    url = created.headers["location"]
    moved = await put(client, patient, url, '"v1"', start_at=at(5), end_at=at(5.5))
    assert moved.status_code == 200, moved.text
    assert aborted == [True]
    # Done once: the aborted attempt's change was rolled back with it.
    assert (moved.json()["start_at"], moved.json()["version"]) == (at(5), 2)


async def test_a_patient_reschedules_and_cancels_but_cannot_mark_arrival(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    url = created.headers["location"]
    moved = await put(client, patient, url, '"v1"', start_at=at(5), end_at=at(5.5))
    assert moved.status_code == 200, moved.text
    assert moved.json()["start_at"] == at(5)
    assert_problem(await put(client, patient, url, '"v2"', status="arrived"), 403)
    cancelled = await put(
        client, patient, url, '"v2"', status="cancelled", cancellation_reason="travel"
    )
    assert cancelled.json()["status"] == "cancelled"


async def test_the_doctor_runs_the_visit_and_final_states_stay_final(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    assert (await put(client, doctor, url, '"v1"', status="arrived")).status_code == 200
    done = await put(client, doctor, url, '"v2"', status="fulfilled", notes="BP 120/80")
    assert done.json()["notes"] == "BP 120/80"
    body = assert_problem(await put(client, doctor, url, '"v3"', status="booked"), 409)
    assert body["allowed_transitions"] == []


async def test_rescheduling_onto_a_busy_slot_is_a_conflict(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, one, two = await make_user(Role.DOCTOR), await make_user(), await make_user()
    await book(client, one, start=1, doctor=doctor)
    url = (await book(client, two, start=3, doctor=doctor)).headers["location"]
    body = assert_problem(await put(client, two, url, '"v1"', start_at=at(1), end_at=at(1.5)), 409)
    assert body["conflict"] == "doctor_busy"


async def test_a_deleted_appointment_disappears_and_frees_its_slot(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, other = await make_user(Role.DOCTOR), await make_user(), await make_user()
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    assert (await client.delete(url, headers=patient.headers)).status_code == 204
    assert_problem(await client.get(url, headers=patient.headers), 404)
    assert_problem(await client.delete(url, headers=patient.headers), 404)
    assert (await book(client, other, start=1, doctor=doctor)).status_code == 201


async def test_only_admins_delete_an_appointment_past_booked(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    await put(client, doctor, url, '"v1"', status="arrived")
    assert_problem(await client.delete(url, headers=doctor.headers), 409)
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
