"""Use cases against the in-memory store (``tests/unit/fakes.py``): no PostgreSQL, no app.

The same behaviours run end to end against PostgreSQL in ``tests/appointments`` and
``tests/test_auth*.py``; here they run through the domain's ports alone, which is what lets a
use case be tested (and written) before any SQL exists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

import pytest

from adapters.passwords import PasswordHasher
from adapters.tokens import TokenService
from domain import appointments
from domain.appointments import Booking
from domain.auth import AuthService, LoginThrottle
from domain.errors import Conflict, PreconditionFailed
from domain.model import Caller, Role
from domain.paging import Cursors
from domain.ports import Transactions
from domain.queries import AppointmentQuery
from tests.unit.fakes import Store

NEXT_WEEK = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)


def _tx(store: Store) -> Transactions:
    # The fake implements only the repositories these use cases touch (``fakes.py``).
    return cast(Transactions, store)


def _as(user_id: UUID, role: Role) -> Caller:
    return Caller(id=user_id, role=role)


def _booking(doctor: UUID, hours: tuple[int, int]) -> Booking:
    start, end = hours
    return Booking(
        patient_id=None,
        doctor_id=doctor,
        start_at=NEXT_WEEK + timedelta(hours=start),
        end_at=NEXT_WEEK + timedelta(hours=end),
        reason="check-up",
    )


@pytest.fixture
def store() -> Store:
    return Store()


async def test_a_patient_books_a_free_slot_in_one_unit_of_work(store: Store) -> None:
    doctor, patient = store.add_user(Role.DOCTOR, "Dr Who"), store.add_user(Role.PATIENT)
    created = await appointments.book(
        _tx(store), _as(patient.id, Role.PATIENT), _booking(doctor.id, (9, 10))
    )
    assert created.body["doctor_name"] == "Dr Who"
    assert created.body["patient_id"] == patient.id
    assert created.body["status"] == "booked"
    assert list(store.state.appointments) == [created.body["id"]]
    # The use case chose a read-write unit; its event committed with the booking.
    assert store.opened == ["unit_of_work"]
    assert store.audit_outcomes() == [("appointment.create", 201, None)]
    # The booking's announcement was written in the same unit (the outbox delivers it later).
    assert [kind for kind, _, _ in store.state.outbox] == ["appointment_event"]


async def test_a_taken_slot_is_a_conflict_that_says_when_and_writes_nothing(store: Store) -> None:
    doctor = store.add_user(Role.DOCTOR)
    first, second = store.add_user(Role.PATIENT), store.add_user(Role.PATIENT)
    await appointments.book(_tx(store), _as(first.id, Role.PATIENT), _booking(doctor.id, (9, 10)))
    with pytest.raises(Conflict) as refused:
        await appointments.book(
            _tx(store), _as(second.id, Role.PATIENT), _booking(doctor.id, (9, 11))
        )
    assert refused.value.extensions["conflict"] == "doctor_busy"
    assert refused.value.extensions["busy_from"].endswith("Z")
    assert str(first.id) not in refused.value.detail
    assert len(store.state.appointments) == 1
    # The refusal is on record with its status, settled by the domain, not by the store.
    assert store.audit_outcomes()[-1] == ("appointment.create", 409, refused.value.detail)


async def test_moving_onto_a_taken_slot_is_a_conflict_and_changes_nothing(store: Store) -> None:
    doctor, patient = store.add_user(Role.DOCTOR), store.add_user(Role.PATIENT)
    admin = _as(store.add_user(Role.ADMIN).id, Role.ADMIN)
    me = _as(patient.id, Role.PATIENT)
    await appointments.book(_tx(store), me, _booking(doctor.id, (9, 10)))
    later = await appointments.book(_tx(store), me, _booking(doctor.id, (12, 13)))
    moved = {"start_at": (NEXT_WEEK + timedelta(hours=9)).isoformat()}
    with pytest.raises(Conflict) as refused:
        await appointments.update(_tx(store), admin, later.body["id"], moved, '"v1"')
    assert refused.value.extensions["conflict"] in ("doctor_busy", "patient_busy")
    kept = store.state.appointments[later.body["id"]]
    assert kept["start_at"] == NEXT_WEEK + timedelta(hours=12)
    assert kept["version"] == 1
    assert store.audit_outcomes()[-1][:2] == ("appointment.update", 409)


async def test_an_update_from_a_stale_version_is_refused(store: Store) -> None:
    doctor, patient = store.add_user(Role.DOCTOR), store.add_user(Role.PATIENT)
    me = _as(patient.id, Role.PATIENT)
    booked = await appointments.book(_tx(store), me, _booking(doctor.id, (9, 10)))
    change = {"reason": "follow-up"}
    await appointments.update(_tx(store), me, booked.body["id"], change, '"v1"')
    with pytest.raises(PreconditionFailed):
        await appointments.update(_tx(store), me, booked.body["id"], {"reason": "x"}, '"v1"')
    assert store.state.appointments[booked.body["id"]]["reason"] == "follow-up"


async def test_reading_one_appointment_is_a_single_read(store: Store) -> None:
    doctor, patient = store.add_user(Role.DOCTOR), store.add_user(Role.PATIENT)
    me = _as(patient.id, Role.PATIENT)
    booked = await appointments.book(_tx(store), me, _booking(doctor.id, (9, 10)))
    store.opened.clear()
    body = await appointments.get(_tx(store), me, booked.body["id"])
    assert body["id"] == booked.body["id"]
    assert store.opened == ["single_read"]
    assert store.audit_outcomes()[-1] == ("appointment.read", 200, None)


async def test_a_list_may_be_stale_but_a_read_after_it_is_not(store: Store) -> None:
    doctor, patient = store.add_user(Role.DOCTOR), store.add_user(Role.PATIENT)
    me = _as(patient.id, Role.PATIENT)
    booked = await appointments.book(_tx(store), me, _booking(doctor.id, (9, 10)))
    store.opened.clear()
    cursors = Cursors(b"k" * 32)
    page = await appointments.search(_tx(store), me, AppointmentQuery(), None, cursors)
    assert [item["id"] for item in page["items"]] == [booked.body["id"]]
    await appointments.get(_tx(store), me, booked.body["id"])
    # The list may be served by a replica; the get by id never is.
    assert store.opened == ["stale_read", "single_read"]
    assert store.audit_outcomes()[-2:] == [
        ("appointment.search", 200, None),
        ("appointment.read", 200, None),
    ]


def _auth() -> AuthService:
    return AuthService(
        hasher=PasswordHasher(4),
        tokens=TokenService(secret="s" * 48, issuer="i", audience="a", ttl_seconds=60),
        refresh_ttl=3600,
        refresh_idle_ttl=600,
        throttle=LoginThrottle(
            per_account=10,
            per_pair=5,
            per_address=100,
            window_seconds=900,
            first_delay=30,
            sign_ups_per_address=20,
        ),
        min_password_length=8,
    )


async def test_signing_up_with_a_taken_email_is_a_conflict(store: Store) -> None:
    auth = _auth()
    password = "correct horse battery staple"
    first = await auth.register(
        _tx(store), email="Ann@Example.org", password=password, full_name=" Ann "
    )
    assert (first.email, first.full_name, first.role) == ("ann@example.org", "Ann", Role.PATIENT)
    with pytest.raises(Conflict, match="already exists"):
        await auth.register(
            _tx(store), email="ann@example.org ", password=password, full_name="Other Ann"
        )
    assert [user.email for user in store.state.users.values()] == ["ann@example.org"]
    assert store.audit_outcomes() == [
        ("auth.register", 201, None),
        ("auth.register", 409, "A user with this email already exists."),
    ]
