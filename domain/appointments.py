"""Booking, reading, changing and deleting appointments."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson

from domain import appointment_rules as rules
from domain import availability, notifications, paging
from domain.appointment_rules import Parties, Status
from domain.audit import AuditEvent
from domain.errors import (
    Conflict,
    Contention,
    Forbidden,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnprocessableRequest,
)
from domain.model import JSON_OPTIONS, Caller, Role, utc_iso
from domain.ports import SlotTaken, Transactions, UnitOfWork
from domain.queries import AppointmentQuery

MAX_PAGE = 100
CONTENTION_RETRIES = 2

T = TypeVar("T")


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a row. Ids and timestamps stay ``UUID`` and UTC ``datetime``: the
    jsonifier (``service.jsonifier``) writes them in C as the API spells them, cheaper than
    formatting every field of a page in Python first (figures: benchmarks/profiles.md)."""
    return {
        "id": row["id"],
        "patient_id": row["patient_id"],
        "patient_name": row["patient_name"],
        "doctor_id": row["doctor_id"],
        "doctor_name": row["doctor_name"],
        "start_at": row["start_at"],
        "end_at": row["end_at"],
        "status": row["status"],
        "reason": row["reason"],
        "notes": row["notes"],
        "cancellation_reason": row["cancellation_reason"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def etag(version: int) -> str:
    return f'"v{version}"'


@dataclass(frozen=True, slots=True)
class Booking:
    patient_id: UUID | None
    doctor_id: UUID | None
    start_at: datetime
    end_at: datetime
    reason: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Booking:
        return cls(
            patient_id=UUID(body["patient_id"]) if body.get("patient_id") else None,
            doctor_id=UUID(body["doctor_id"]) if body.get("doctor_id") else None,
            start_at=parse_time(body["start_at"]),
            end_at=parse_time(body["end_at"]),
            reason=body.get("reason"),
        )


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # the spec's date-time format already refuses this
        raise InvalidRequest("Timestamps need an offset, e.g. 2026-12-01T09:00:00+03:00.")
    return moment


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Created:
    body: dict[str, Any]
    replayed: bool


async def book(
    tx: Transactions,
    caller: Caller,
    booking: Booking,
    *,
    idempotency_key: str | None = None,
    request_body: Mapping[str, Any] | None = None,
    override_availability: bool = False,
) -> Created:
    """Book a slot within the doctor's availability (an admin may override it, audited).
    With an idempotency key, a retry of the same request returns the first reply instead of
    booking twice."""
    async with tx.unit_of_work() as uow:
        event = uow.audit.record("appointment.create", "appointment", success_status=201)
        patient_id, doctor_id = rules.booking_parties(caller, booking.patient_id, booking.doctor_id)
        uow.audit.concerns(patient_id)
        rules.check_times(booking.start_at, booking.end_at, _now())
        return await _settled(
            uow,
            lambda: _book_once(
                uow,
                caller,
                booking,
                event,
                (patient_id, doctor_id),
                (idempotency_key, request_body),
                override_availability,
            ),
        )


async def _settled(uow: UnitOfWork, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` again if PostgreSQL aborted it to break a deadlock. The last resort
    only: bookings and changes of time take their slot locks in one global order before they
    write (``uow.appointments``), so two of them wait on each other in a line, never in a
    cycle; this covers a cycle through something else (a lock taken by a future change)."""
    for _ in range(CONTENTION_RETRIES):
        try:
            return await attempt()
        except Contention:
            await uow.rollback()
    return await attempt()


async def _book_once(
    uow: UnitOfWork,
    caller: Caller,
    booking: Booking,
    event: AuditEvent,
    parties: tuple[UUID, UUID],
    idempotency: tuple[str | None, Mapping[str, Any] | None],
    override_availability: bool,
) -> Created:
    patient_id, doctor_id = parties
    idempotency_key, request_body = idempotency
    if idempotency_key is not None:
        request_hash = hashlib.sha256(orjson.dumps(request_body, option=orjson.OPT_SORT_KEYS))
        if not await uow.idempotency.claim(caller.id, idempotency_key, request_hash.digest()):
            return await _replay(uow, caller, idempotency_key, request_hash.digest())
    await _check_party(uow, doctor_id, Role.DOCTOR, "doctor_id")
    await _check_party(uow, patient_id, Role.PATIENT, "patient_id")
    overridden = await availability.check_booking(
        uow,
        caller,
        doctor_id,
        booking.start_at,
        booking.end_at,
        override=override_availability,
    )
    try:
        row = await uow.appointments.add(
            patient_id=patient_id,
            doctor_id=doctor_id,
            booked_by=caller.id,
            start_at=booking.start_at,
            end_at=booking.end_at,
            reason=booking.reason,
        )
    except SlotTaken as taken:
        await uow.rollback()
        party_id = doctor_id if taken.party == "doctor" else patient_id
        raise await _slot_conflict(uow, taken.party, party_id, booking) from None
    appointment_id = row["id"]
    event.resource_id = str(appointment_id)
    if overridden is not None:
        availability.record_override(uow, overridden, appointment_id, 201)
    body = to_json(row)
    if idempotency_key is not None:
        await uow.idempotency.record(
            caller.id,
            idempotency_key,
            status=201,
            response=orjson.dumps(body, option=JSON_OPTIONS).decode(),
            resource_id=appointment_id,
        )
    await notifications.announce(uow.outbox, notifications.BOOKED, row, _now())
    await uow.commit()
    return Created(body=body, replayed=False)


async def _replay(uow: UnitOfWork, caller: Caller, key: str, request_hash: bytes) -> Created:
    stored = await uow.idempotency.stored(caller.id, key)
    if stored is None or stored["response"] is None:  # pragma: no cover - claim just said so
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    if bytes(stored["request_hash"]) != request_hash:
        raise UnprocessableRequest(
            "This Idempotency-Key was already used with a different request body."
        )
    return Created(body=orjson.loads(stored["response"]), replayed=True)


async def _check_party(uow: UnitOfWork, user_id: UUID, role: Role, field: str) -> None:
    user = await uow.users.get(user_id)
    if user is None or user.role is not role or not user.active:
        raise UnprocessableRequest(
            f"{field} does not name an active {role.value}.", invalid_field=field
        )


async def _slot_conflict(uow: UnitOfWork, party: str, party_id: UUID, booking: Booking) -> Conflict:
    """Say what the slot collides with: the time taken, never whose appointment it is."""
    other = await uow.appointments.first_overlap(party, party_id, booking.start_at, booking.end_at)
    who = "The doctor" if party == "doctor" else "The patient"
    extensions: dict[str, Any] = {"conflict": f"{party}_busy"}
    detail = f"{who} already has an appointment at that time."
    if other is not None:
        extensions["busy_from"] = utc_iso(other["start_at"])
        extensions["busy_until"] = utc_iso(other["end_at"])
        detail = (
            f"{who} already has an appointment from {extensions['busy_from']} "
            f"to {extensions['busy_until']}."
        )
    return Conflict(detail, **extensions)


async def get(tx: Transactions, caller: Caller, appointment_id: UUID) -> dict[str, Any]:
    async with tx.single_read() as uow:  # one statement
        uow.audit.record("appointment.read", "appointment", appointment_id)
        row = await uow.appointments.get(appointment_id)
        if row is not None:
            uow.audit.concerns(row["patient_id"])
        if row is None or not rules.can_see(caller, _parties(row)):
            raise NotFound(rules.NOT_FOUND)
        return to_json(row)


def _parties(row: Mapping[str, Any]) -> Parties:
    return Parties(
        patient_id=row["patient_id"],
        doctor_id=row["doctor_id"],
        status=Status(row["status"]),
        start_at=row["start_at"],
    )


def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return row["start_at"], row["id"]


def _parse_key(values: list[Any]) -> tuple[datetime, UUID]:
    return datetime.fromisoformat(values[0]), UUID(values[1])


# One list per order: a cursor of one order is refused by the other.
KEYSETS = {
    descending: paging.Keyset(
        "appointments newest first" if descending else "appointments", _key, _parse_key
    )
    for descending in (False, True)
}


async def search(
    tx: Transactions,
    caller: Caller,
    query: AppointmentQuery,
    cursor: str | None,
    cursors: paging.Cursors,
) -> dict[str, Any]:
    """One page of the caller's appointments, oldest first (or newest with ``descending``),
    narrowed by the client's filters in ``query`` and starting after ``cursor``. A list may
    be a second behind (``stale_read``): the caller's own changes always show."""
    async with tx.stale_read() as uow:  # one statement
        uow.audit.record("appointment.search", "appointment")
        if query.window_from and query.window_to and query.window_from >= query.window_to:
            raise InvalidRequest(
                "'from' must be before 'to'.",
                errors=[{"parameter": "to", "in": "query", "message": "must be after 'from'"}],
            )
        keyset = KEYSETS[query.descending]
        scoped = replace(
            query,
            scope_patient_id=caller.id if caller.role is Role.PATIENT else None,
            scope_doctor_id=caller.id if caller.role is Role.DOCTOR else None,
            after=cursors.after(keyset, caller.id, cursor),
            limit=query.limit + 1,  # one more tells whether there is a next page
        )
        rows = await uow.appointments.find(scoped)
        items, page = cursors.reply(keyset, caller.id, rows, query.limit, to_json)
        uow.audit.concerns(*(row["patient_id"] for row in items))
        return page


UPDATABLE = ("start_at", "end_at", "status", "reason", "notes", "cancellation_reason")


async def update(
    tx: Transactions,
    caller: Caller,
    appointment_id: UUID,
    changes: dict[str, Any],
    if_match: str | None,
    override_availability: bool = False,
) -> dict[str, Any]:
    """Change an appointment, only if the client saw its current version (If-Match). A
    change of time must fit the doctor's availability (an admin may override it, audited)."""
    async with tx.unit_of_work() as uow:
        uow.audit.record("appointment.update", "appointment", appointment_id)
        return await _settled(
            uow,
            lambda: _update_once(
                uow, caller, appointment_id, changes, if_match, override_availability
            ),
        )


async def _update_once(
    uow: UnitOfWork,
    caller: Caller,
    appointment_id: UUID,
    changes: dict[str, Any],
    if_match: str | None,
    override_availability: bool,
) -> dict[str, Any]:
    current = await uow.appointments.lock(appointment_id)
    if current is not None:
        uow.audit.concerns(current["patient_id"])
    if current is None or not rules.can_see(caller, _parties(current)):
        raise NotFound(rules.NOT_FOUND)
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the appointment you are changing."
        )
    if not _matches(if_match, current["version"]):
        raise PreconditionFailed(
            "The appointment changed since you read it; read it again and retry.",
            current_version=current["version"],
        )
    now = _now()
    rules.check_update(caller, _parties(current), changes, now)
    values = {key: changes[key] for key in UPDATABLE if key in changes}
    start: datetime = current["start_at"]
    end: datetime = current["end_at"]
    if "start_at" in values or "end_at" in values:
        start = parse_time(values["start_at"]) if "start_at" in values else start
        end = parse_time(values["end_at"]) if "end_at" in values else end
        rules.check_times(start, end, now)
        values["start_at"], values["end_at"] = start, end
        overridden = await availability.check_booking(
            uow,
            caller,
            current["doctor_id"],
            start,
            end,
            override=override_availability,
            appointment_id=appointment_id,
        )
        if overridden is not None:
            availability.record_override(uow, overridden, appointment_id, 200)
    elif override_availability and not caller.is_admin:
        raise Forbidden("Only admins may book outside a doctor's availability.")
    try:
        # The times the row holds afterwards: its slot locks are taken before it is written.
        row = await uow.appointments.update(
            appointment_id,
            values,
            parties=(current["doctor_id"], current["patient_id"]),
            start_at=start,
            end_at=end,
        )
    except SlotTaken as taken:
        await uow.rollback()
        party_id = current["doctor_id"] if taken.party == "doctor" else current["patient_id"]
        booking = Booking(None, None, values["start_at"], values["end_at"], None)
        raise await _slot_conflict(uow, taken.party, party_id, booking) from None
    change = _announced_change(current, row)
    if change is not None:
        await notifications.announce(uow.outbox, change, row, now, previous=current)
    await uow.commit()
    return to_json(row)


def _announced_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """The event a change makes (domain/notifications.py), if any."""
    if after["status"] == Status.CANCELLED and before["status"] != Status.CANCELLED:
        return notifications.CANCELLED
    if after["status"] == Status.BOOKED and (
        after["start_at"] != before["start_at"] or after["end_at"] != before["end_at"]
    ):
        return notifications.RESCHEDULED
    return None


def _matches(if_match: str, version: int) -> bool:
    """Strong comparison (RFC 9110 §13.1.1): weak tags never match, and neither does ``*``
    (refused by the contract: it would skip the lost-update check; README, Decisions)."""
    tags = [tag.strip() for tag in if_match.split(",")]
    return etag(version) in tags


async def delete(tx: Transactions, caller: Caller, appointment_id: UUID) -> None:
    """Hide the appointment and free its slot; the row is kept as a medical record."""
    async with tx.unit_of_work() as uow:
        uow.audit.record("appointment.delete", "appointment", appointment_id, success_status=204)
        current = await uow.appointments.lock(appointment_id)
        if current is not None:
            uow.audit.concerns(current["patient_id"])
        if current is None:
            raise NotFound(rules.NOT_FOUND)
        now = _now()
        rules.check_delete(caller, _parties(current), now)
        await uow.appointments.soft_delete(appointment_id)
        if current["status"] == Status.BOOKED and current["start_at"] > now:
            # Deleting a booking still ahead frees its slot: for the parties, a cancellation.
            cancelled = {**current, "status": Status.CANCELLED.value}
            await notifications.announce(uow.outbox, notifications.CANCELLED, cancelled, now)
        await uow.commit()
