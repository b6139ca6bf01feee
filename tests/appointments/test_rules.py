"""The lifecycle and role rules, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain import appointment_rules as rules
from domain.appointment_rules import Parties, Status
from domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from domain.model import Caller, Role

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PATIENT = Caller(uuid.uuid4(), Role.PATIENT)
DOCTOR = Caller(uuid.uuid4(), Role.DOCTOR)
ADMIN = Caller(uuid.uuid4(), Role.ADMIN)
STRANGER_DOCTOR = Caller(uuid.uuid4(), Role.DOCTOR)


def parties(status: Status = Status.BOOKED, starts_in: timedelta = timedelta(days=1)) -> Parties:
    return Parties(PATIENT.id, DOCTOR.id, status, NOW + starts_in)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (Status.BOOKED, Status.ARRIVED),
        (Status.BOOKED, Status.CANCELLED),
        (Status.BOOKED, Status.NOSHOW),
        (Status.ARRIVED, Status.FULFILLED),
        (Status.ARRIVED, Status.NOSHOW),
    ],
)
def test_the_lifecycle_allows_its_transitions(current: Status, new: Status) -> None:
    rules.check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (Status.BOOKED, Status.FULFILLED),
        (Status.ARRIVED, Status.CANCELLED),
        (Status.ARRIVED, Status.BOOKED),
        (Status.FULFILLED, Status.NOSHOW),
        (Status.CANCELLED, Status.BOOKED),
        (Status.NOSHOW, Status.ARRIVED),
    ],
)
def test_an_illegal_transition_names_the_allowed_ones(current: Status, new: Status) -> None:
    with pytest.raises(Conflict) as caught:
        rules.check_transition(current, new)
    assert caught.value.extensions["allowed_transitions"] == rules.allowed_transitions(current)


def test_times_must_be_ordered_sane_and_in_the_future() -> None:
    start = NOW + timedelta(hours=1)
    rules.check_times(start, start + timedelta(minutes=5), NOW)
    rules.check_times(start, start + timedelta(hours=8), NOW)
    for end in (start, start - timedelta(minutes=1), start + timedelta(minutes=4)):
        with pytest.raises(InvalidRequest):
            rules.check_times(start, end, NOW)
    with pytest.raises(InvalidRequest):
        rules.check_times(start, start + timedelta(hours=8, seconds=1), NOW)
    with pytest.raises(InvalidRequest):
        rules.check_times(NOW - timedelta(minutes=1), NOW + timedelta(minutes=30), NOW)


def test_patients_book_for_themselves_and_doctors_with_themselves() -> None:
    other = uuid.uuid4()
    assert rules.booking_parties(PATIENT, None, DOCTOR.id) == (PATIENT.id, DOCTOR.id)
    assert rules.booking_parties(DOCTOR, PATIENT.id, None) == (PATIENT.id, DOCTOR.id)
    assert rules.booking_parties(ADMIN, PATIENT.id, DOCTOR.id) == (PATIENT.id, DOCTOR.id)
    with pytest.raises(Forbidden):
        rules.booking_parties(PATIENT, other, DOCTOR.id)
    with pytest.raises(Forbidden):
        rules.booking_parties(DOCTOR, PATIENT.id, other)
    with pytest.raises(InvalidRequest):
        rules.booking_parties(ADMIN, PATIENT.id, None)


def test_only_the_parties_and_admins_see_an_appointment() -> None:
    assert rules.can_see(PATIENT, parties())
    assert rules.can_see(DOCTOR, parties())
    assert rules.can_see(ADMIN, parties())
    assert not rules.can_see(STRANGER_DOCTOR, parties())
    assert not rules.can_see(Caller(uuid.uuid4(), Role.PATIENT), parties())


def test_a_patient_may_cancel_with_a_reason_but_not_move_the_lifecycle() -> None:
    rules.check_update(PATIENT, parties(), {"status": "cancelled", "cancellation_reason": "x"}, NOW)
    with pytest.raises(InvalidRequest):
        rules.check_update(PATIENT, parties(), {"status": "cancelled"}, NOW)
    with pytest.raises(Forbidden):
        rules.check_update(PATIENT, parties(), {"status": "arrived"}, NOW)
    with pytest.raises(Forbidden):
        rules.check_update(PATIENT, parties(), {"notes": "self-diagnosis"}, NOW)


def test_a_doctor_moves_their_own_appointments_and_writes_notes() -> None:
    rules.check_update(DOCTOR, parties(), {"status": "arrived", "notes": "on time"}, NOW)
    rules.check_update(DOCTOR, parties(Status.ARRIVED), {"status": "fulfilled"}, NOW)
    with pytest.raises(Forbidden):
        rules.check_update(DOCTOR, parties(), {"reason": "rewritten"}, NOW)
    with pytest.raises(NotFound):
        rules.check_update(STRANGER_DOCTOR, parties(), {"notes": "x"}, NOW)


def test_an_admin_may_do_anything_the_lifecycle_allows() -> None:
    rules.check_update(ADMIN, parties(), {"reason": "r", "notes": "n", "status": "noshow"}, NOW)
    with pytest.raises(Conflict):
        rules.check_update(ADMIN, parties(Status.FULFILLED), {"status": "booked"}, NOW)


def test_only_a_booked_future_appointment_can_be_rescheduled() -> None:
    change = {"start_at": "later"}
    rules.check_update(DOCTOR, parties(), change, NOW)
    with pytest.raises(Conflict):
        rules.check_update(DOCTOR, parties(Status.ARRIVED), change, NOW)
    with pytest.raises(Conflict):
        rules.check_update(DOCTOR, parties(starts_in=-timedelta(minutes=1)), change, NOW)


def test_a_cancellation_reason_only_goes_with_cancelling() -> None:
    with pytest.raises(InvalidRequest):
        rules.check_update(DOCTOR, parties(), {"cancellation_reason": "x"}, NOW)


def test_parties_delete_only_booked_future_appointments_and_admins_any() -> None:
    rules.check_delete(PATIENT, parties(), NOW)
    rules.check_delete(ADMIN, parties(Status.FULFILLED), NOW)
    with pytest.raises(Conflict):
        rules.check_delete(DOCTOR, parties(Status.ARRIVED), NOW)
    with pytest.raises(Conflict):
        rules.check_delete(PATIENT, parties(starts_in=-timedelta(hours=1)), NOW)
    with pytest.raises(NotFound):
        rules.check_delete(STRANGER_DOCTOR, parties(), NOW)
