"""The appointment lifecycle and who may do what: plain functions, no I/O.

Lifecycle (a subset of FHIR ``Appointment.status``)::

    booked ──> arrived ──> fulfilled
      │  └──────────┴────> noshow
      └──> cancelled

``fulfilled``, ``cancelled`` and ``noshow`` are final.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from domain.model import Caller, Role

MIN_DURATION = timedelta(minutes=5)
MAX_DURATION = timedelta(hours=8)  # also a CHECK constraint: list queries rely on it


class Status(enum.StrEnum):
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.BOOKED: frozenset({Status.ARRIVED, Status.CANCELLED, Status.NOSHOW}),
    Status.ARRIVED: frozenset({Status.FULFILLED, Status.NOSHOW}),
    Status.FULFILLED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.NOSHOW: frozenset(),
}

# What each party may change on an appointment they are part of (admins: everything).
PATIENT_FIELDS = frozenset({"start_at", "end_at", "reason", "status", "cancellation_reason"})
DOCTOR_FIELDS = frozenset({"start_at", "end_at", "status", "notes", "cancellation_reason"})
ADMIN_FIELDS = PATIENT_FIELDS | DOCTOR_FIELDS

NOT_FOUND = "No such appointment."


@dataclass(frozen=True, slots=True)
class Parties:
    """The people an appointment concerns, and its state: what the rules look at."""

    patient_id: UUID
    doctor_id: UUID
    status: Status
    start_at: datetime


def allowed_transitions(status: Status) -> list[str]:
    return sorted(TRANSITIONS[status])


def check_transition(current: Status, new: Status) -> None:
    if new is current:
        return
    if new not in TRANSITIONS[current]:
        allowed = allowed_transitions(current)
        raise Conflict(
            f"An appointment that is {current} cannot become {new}; "
            + (f"allowed: {', '.join(allowed)}." if allowed else f"{current} is final."),
            current_status=current.value,
            allowed_transitions=allowed,
        )


def check_times(start_at: datetime, end_at: datetime, now: datetime) -> None:
    if start_at >= end_at:
        raise InvalidRequest("start_at must be before end_at.")
    duration = end_at - start_at
    if duration < MIN_DURATION or duration > MAX_DURATION:
        raise InvalidRequest("An appointment lasts from 5 minutes to 8 hours.")
    if start_at <= now:
        raise InvalidRequest("An appointment cannot start in the past.")


def can_see(caller: Caller, parties: Parties) -> bool:
    if caller.role is Role.ADMIN:
        return True
    if caller.role is Role.DOCTOR:
        return parties.doctor_id == caller.id
    return parties.patient_id == caller.id


UNVERIFIED = (
    "Confirm your email address before booking: open the link in the verification mail "
    "(POST /auth/email-verification/resend sends another)."
)


def booking_parties(
    caller: Caller, patient_id: UUID | None, doctor_id: UUID | None
) -> tuple[UUID, UUID]:
    """Who the appointment is for: patients book for themselves, doctors with themselves."""
    if caller.role is Role.PATIENT:
        if not caller.email_verified:
            # Sign-up proves nothing about the address until its mail is answered (README,
            # Decisions: "Email verification").
            raise Forbidden(UNVERIFIED, email_verified=False)
        if patient_id not in (None, caller.id):
            raise Forbidden("Patients book appointments for themselves only.")
        if doctor_id is None:
            raise InvalidRequest("doctor_id is required.")
        return caller.id, doctor_id
    if caller.role is Role.DOCTOR:
        if doctor_id not in (None, caller.id):
            raise Forbidden("Doctors book appointments with themselves only.")
        if patient_id is None:
            raise InvalidRequest("patient_id is required.")
        return patient_id, caller.id
    if patient_id is None or doctor_id is None:
        raise InvalidRequest("patient_id and doctor_id are both required.")
    return patient_id, doctor_id


def check_update(
    caller: Caller, parties: Parties, changes: Mapping[str, Any], now: datetime
) -> None:
    """Refuse changes the caller's role may not make, or the lifecycle does not allow."""
    if not can_see(caller, parties):
        raise NotFound(NOT_FOUND)
    allowed = {Role.PATIENT: PATIENT_FIELDS, Role.DOCTOR: DOCTOR_FIELDS}.get(
        caller.role, ADMIN_FIELDS
    )
    refused = sorted(set(changes) - allowed)
    if refused:
        raise Forbidden("You may not change: " + ", ".join(refused) + ".", refused_fields=refused)
    new_status = Status(changes["status"]) if "status" in changes else parties.status
    if caller.role is Role.PATIENT and new_status not in (parties.status, Status.CANCELLED):
        raise Forbidden("Patients may only cancel their appointments.")
    check_transition(parties.status, new_status)
    if new_status is Status.CANCELLED and parties.status is not Status.CANCELLED:
        if not changes.get("cancellation_reason"):
            raise InvalidRequest("Cancelling needs a cancellation_reason.")
    elif "cancellation_reason" in changes:
        raise InvalidRequest("cancellation_reason goes with cancelling (status: cancelled).")
    reschedules = "start_at" in changes or "end_at" in changes
    if reschedules and (parties.status is not Status.BOOKED or parties.start_at <= now):
        raise Conflict("Only a booked appointment that has not started can be rescheduled.")
    if caller.role is Role.PATIENT and parties.status is not Status.BOOKED:
        raise Conflict("This appointment can no longer be changed by the patient.")


def check_delete(caller: Caller, parties: Parties, now: datetime) -> None:
    if not can_see(caller, parties):
        raise NotFound(NOT_FOUND)
    if caller.role is Role.ADMIN:
        return
    if parties.status is not Status.BOOKED or parties.start_at <= now:
        raise Conflict(
            "Only a booked appointment that has not started can be deleted; "
            "cancel it instead (status: cancelled).",
            current_status=parties.status.value,
        )
