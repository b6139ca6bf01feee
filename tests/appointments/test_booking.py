"""Booking through the API: who books for whom, time rules, and no double booking."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from domain.model import Role
from persistence.appointments import AppointmentRepository
from persistence.db import Contention
from tests.appointments.conftest import at, book
from tests.conftest import MakeUser, assert_problem


async def test_a_patient_books_with_a_doctor_and_reads_it_back(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR, full_name="Dr Who")
    patient = await make_user()
    reply = await book(client, patient, start=1, doctor=doctor, reason="cough")
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert created["patient_id"] == patient.id
    assert created["doctor_name"] == "Dr Who"
    assert created["status"] == "booked"
    assert reply.headers["etag"] == '"v1"'
    assert reply.headers["location"] == f"/appointments/{created['id']}"
    again = await client.get(reply.headers["location"], headers=patient.headers)
    assert again.json() == created


async def test_a_doctor_books_for_a_patient_and_an_admin_for_anyone(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    by_doctor = await book(client, doctor, start=1, patient=patient)
    assert by_doctor.status_code == 201
    assert by_doctor.json()["doctor_id"] == doctor.id
    by_admin = await book(client, admin, start=2, patient=patient, doctor=doctor)
    assert by_admin.status_code == 201


async def test_a_patient_cannot_book_for_someone_else(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, other = await make_user(Role.DOCTOR), await make_user(), await make_user()
    reply = await book(client, patient, start=1, doctor=doctor, patient=other)
    assert_problem(reply, 403)


async def test_the_doctor_must_be_an_active_doctor(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient, not_a_doctor = await make_user(), await make_user()
    retired = await make_user(Role.DOCTOR, active=False)
    for doctor in (not_a_doctor, retired):
        body = assert_problem(await book(client, patient, start=1, doctor=doctor), 422)
        assert body["invalid_field"] == "doctor_id"


async def test_an_offset_is_required_and_kept_as_the_same_instant(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    naive = {"doctor_id": doctor.id, "start_at": at(1)[:-1], "end_at": at(2)[:-1]}
    assert_problem(await client.post("/appointments", json=naive, headers=patient.headers), 400)
    moscow = {"doctor_id": doctor.id, "start_at": at(1, "+03:00"), "end_at": at(2, "+03:00")}
    reply = await client.post("/appointments", json=moscow, headers=patient.headers)
    assert reply.status_code == 201, reply.text
    assert reply.json()["start_at"] == at(1)
    assert reply.json()["end_at"] == at(2)


async def test_past_too_short_and_too_long_slots_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    for start, minutes in ((-60, 30), (1, 4), (1, 8 * 60 + 1), (1, 0)):
        assert_problem(
            await book(client, patient, start=start, minutes=minutes, doctor=doctor), 400
        )


async def test_an_overlapping_slot_is_a_conflict_naming_the_busy_time(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, first, second = await make_user(Role.DOCTOR), await make_user(), await make_user()
    assert (await book(client, first, start=1, minutes=60, doctor=doctor)).status_code == 201
    body = assert_problem(await book(client, second, start=1.5, doctor=doctor), 409)
    assert body["conflict"] == "doctor_busy"
    assert body["busy_from"] == at(1)
    assert body["busy_until"] == at(2)
    assert first.id not in str(body)  # the other patient is not revealed


async def test_a_patient_cannot_be_in_two_places_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    one, two, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    assert (await book(client, patient, start=1, doctor=one)).status_code == 201
    body = assert_problem(await book(client, patient, start=1, doctor=two), 409)
    assert body["conflict"] == "patient_busy"


async def test_back_to_back_slots_both_succeed(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, first, second = await make_user(Role.DOCTOR), await make_user(), await make_user()
    assert (await book(client, first, start=1, minutes=30, doctor=doctor)).status_code == 201
    assert (await book(client, second, start=1.5, minutes=30, doctor=doctor)).status_code == 201


async def test_cancelling_frees_the_slot_for_another_booking(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, first, second = await make_user(Role.DOCTOR), await make_user(), await make_user()
    created = await book(client, first, start=1, doctor=doctor)
    cancel = await client.put(
        created.headers["location"],
        json={"status": "cancelled", "cancellation_reason": "better"},
        headers={**first.headers, "If-Match": created.headers["etag"]},
    )
    assert cancel.status_code == 200, cancel.text
    assert (await book(client, second, start=1, doctor=doctor)).status_code == 201


async def test_twenty_concurrent_bookings_of_one_slot_give_one_success(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    patients = [await make_user() for _ in range(20)]
    replies = await asyncio.gather(
        *(book(client, p, start=3 + i / 600, doctor=doctor) for i, p in enumerate(patients))
    )
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [201] + [409] * 19


async def test_a_booking_aborted_by_a_deadlock_is_done_again(
    client: httpx.AsyncClient, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL breaks a deadlock between two bookings of overlapping slots by aborting one;
    that one is run again (here the abort is simulated once) instead of answering 503."""
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    real_add = AppointmentRepository.add
    aborted: list[bool] = []

    async def add_once_aborted(self: AppointmentRepository, **values: Any) -> Any:
        if not aborted:
            aborted.append(True)
            raise Contention("deadlock detected")
        return await real_add(self, **values)

    monkeypatch.setattr(AppointmentRepository, "add", add_once_aborted)
    # With an Idempotency-Key: the claim the aborted attempt made was rolled back with it.
    reply = await client.post(
        "/appointments",
        json={"doctor_id": doctor.id, "start_at": at(5), "end_at": at(5.5)},
        headers={**patient.headers, "Idempotency-Key": "deadlocked-once"},
    )
    assert reply.status_code == 201, reply.text
    assert aborted == [True]
    listed = await client.get("/appointments", headers=patient.headers)
    assert [item["id"] for item in listed.json()["items"]] == [reply.json()["id"]]
