"""Slot locks: a booking or change of time holds its parties' hours before it writes, so
requests for overlapping slots queue instead of deadlocking in their exclusion checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

import httpx
import psycopg

from domain.model import Role
from persistence.appointments import slot_lock_keys
from tests.appointments.conftest import BASE, at, book
from tests.appointments.test_update_and_delete import put
from tests.conftest import MakeUser

T = TypeVar("T")
NINE = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
# Long enough that a request not held back by the lock would have finished (it would then
# answer in milliseconds), short enough to keep the suite quick.
HELD_FOR = 1.0


def test_overlapping_slots_share_a_key_for_each_party() -> None:
    doctor, patient, other = uuid4(), uuid4(), uuid4()
    half_hour = timedelta(minutes=30)
    booking = slot_lock_keys([doctor, patient], NINE, NINE + half_hour)
    assert booking == sorted(booking)
    assert len(booking) == 2
    doctors_nine = set(slot_lock_keys([doctor], NINE, NINE + half_hour))
    patients_nine = set(slot_lock_keys([patient], NINE, NINE + half_hour))
    # The same doctor 09:20-10:20 with someone else: shares the doctor's 09:00 hour only.
    later = slot_lock_keys([doctor, other], NINE + timedelta(minutes=20), NINE + 2 * half_hour)
    assert set(later) & set(booking) == doctors_nine
    # The same patient with another doctor at 09:15: shares the patient's hour only.
    elsewhere = slot_lock_keys([other, patient], NINE + half_hour / 2, NINE + half_hour)
    assert set(elsewhere) & set(booking) == patients_nine


def test_slots_in_different_hours_or_for_other_parties_share_no_key() -> None:
    doctor, other = uuid4(), uuid4()
    nine = slot_lock_keys([doctor], NINE, NINE + timedelta(hours=1))
    # Back to back: [09:00, 10:00) and [10:00, 10:30) do not overlap, and share no hour.
    ten = slot_lock_keys([doctor], NINE + timedelta(hours=1), NINE + timedelta(minutes=90))
    assert not set(nine) & set(ten)
    assert not set(nine) & set(slot_lock_keys([other], NINE, NINE + timedelta(hours=1)))


def test_a_long_slot_holds_every_hour_it_touches() -> None:
    doctor = uuid4()
    keys = slot_lock_keys([doctor], NINE + timedelta(minutes=30), NINE + timedelta(hours=8))
    assert len(keys) == 8  # 09:30-17:00 touches 09:00 … 16:00


@asynccontextmanager
async def holding(database_url: str, party: UUID, start: str) -> AsyncIterator[None]:
    """Another transaction holds ``party``'s slot lock for the hour of ``start``."""
    moment = datetime.fromisoformat(start)
    (key,) = slot_lock_keys([party], moment, moment + timedelta(minutes=1))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        yield
        await conn.rollback()


async def held_back(request: Awaitable[T]) -> asyncio.Future[T]:
    """``request`` started while the lock is held: it must still be waiting after a while."""
    task = asyncio.ensure_future(request)
    await asyncio.sleep(HELD_FOR)
    assert not task.done(), "the write did not wait for its slot lock"
    return task


async def test_a_booking_waits_for_its_doctors_slot_lock(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    async with holding(database_url, UUID(doctor.id), at(3)):
        pending = await held_back(book(client, patient, start=3, doctor=doctor))
    reply = await pending
    assert reply.status_code == 201, reply.text


async def test_a_change_of_time_waits_for_the_new_hours_slot_lock(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor)
    url = created.headers["location"]
    async with holding(database_url, UUID(patient.id), at(6)):
        pending = await held_back(put(client, patient, url, '"v1"', start_at=at(6), end_at=at(6.5)))
    reply = await pending
    assert reply.status_code == 200, reply.text
    assert datetime.fromisoformat(reply.json()["start_at"]) == BASE + timedelta(hours=6)
