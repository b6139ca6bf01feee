"""An in-memory store behind the domain's ports (``domain.ports``), for use cases tested
without PostgreSQL.

It keeps what the use cases in ``tests/unit`` touch, with the same contract as the real
repositories where they rely on it: a unit of work sees a copy of the store and replaces it on
commit, so an uncommitted change is lost; the audit trail is settled by the domain
(``AuditTrail.settle``) when a unit ends, as ``persistence.db.UnitOfWork`` does; bookings that
overlap for a party raise ``SlotTaken`` and a second account with one email ``EmailTaken``.
Repositories a test does not use raise ``NotImplementedError``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from domain.audit import AuditEvent, AuditTrail, RequestContext
from domain.availability import Calendar, Doctor
from domain.model import Role, User
from domain.outbox import Message
from domain.ports import EmailTaken, Row, SlotTaken
from domain.queries import AppointmentQuery
from domain.scheduling import Availability, Busy, WeeklyInterval

HOLDS_SLOT = ("booked", "arrived", "fulfilled")


@dataclass
class State:
    users: dict[UUID, User] = field(default_factory=dict)
    password_hashes: dict[UUID, str] = field(default_factory=dict)
    appointments: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    audit: list[tuple[RequestContext, AuditEvent]] = field(default_factory=list)
    # Messages enqueued in committed units: (kind, payload, dedup key).
    outbox: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


class Users:
    def __init__(self, state: State) -> None:
        self._state = state

    async def get(self, user_id: UUID) -> User | None:
        return self._state.users.get(user_id)

    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        full_name: str,
        role: Role,
        specialty: str | None = None,
    ) -> User:
        if any(user.email == email for user in self._state.users.values()):
            raise EmailTaken(email)
        now = _now()
        user = User(uuid4(), email, full_name, role, specialty, True, 1, now, now)
        self._state.users[user.id] = user
        self._state.password_hashes[user.id] = password_hash
        return user

    async def update(self, user_id: UUID, changes: Mapping[str, Any]) -> User | None:
        user = self._state.users.get(user_id)
        if user is None:
            return None
        columns = {key: value for key, value in changes.items() if key != "bump_sessions"}
        updated = replace(user, **columns)
        self._state.users[user_id] = updated
        return updated


class Appointments:
    def __init__(self, state: State) -> None:
        self._state = state

    def _overlapping(
        self, party: str, party_id: UUID, start_at: datetime, end_at: datetime, but: UUID | None
    ) -> list[dict[str, Any]]:
        return sorted(
            (
                row
                for row in self._state.appointments.values()
                if row[f"{party}_id"] == party_id
                and row["id"] != but
                and row["status"] in HOLDS_SLOT
                and row["start_at"] < end_at
                and start_at < row["end_at"]
            ),
            key=lambda row: row["start_at"],
        )

    def _check_slot(
        self, parties: tuple[UUID, UUID], start_at: datetime, end_at: datetime, but: UUID | None
    ) -> None:
        doctor_id, patient_id = parties
        for party, party_id in (("doctor", doctor_id), ("patient", patient_id)):
            if self._overlapping(party, party_id, start_at, end_at, but):
                raise SlotTaken(party)

    async def add(
        self,
        *,
        patient_id: UUID,
        doctor_id: UUID,
        booked_by: UUID,
        start_at: datetime,
        end_at: datetime,
        reason: str | None,
    ) -> Row:
        self._check_slot((doctor_id, patient_id), start_at, end_at, None)
        now = _now()
        appointment_id = uuid4()
        row: dict[str, Any] = {
            "id": appointment_id,
            "patient_id": patient_id,
            "patient_name": self._state.users[patient_id].full_name,
            "doctor_id": doctor_id,
            "doctor_name": self._state.users[doctor_id].full_name,
            "start_at": start_at,
            "end_at": end_at,
            "status": "booked",
            "reason": reason,
            "notes": None,
            "cancellation_reason": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        self._state.appointments[appointment_id] = row
        return dict(row)

    async def get(self, appointment_id: UUID) -> Row | None:
        row = self._state.appointments.get(appointment_id)
        return None if row is None else dict(row)

    async def lock(self, appointment_id: UUID) -> Row | None:
        return await self.get(appointment_id)

    async def update(
        self,
        appointment_id: UUID,
        changes: Mapping[str, Any],
        *,
        parties: tuple[UUID, UUID],
        start_at: datetime,
        end_at: datetime,
    ) -> Row:
        self._check_slot(parties, start_at, end_at, appointment_id)
        row = self._state.appointments[appointment_id]
        row.update(changes, updated_at=_now(), version=row["version"] + 1)
        return dict(row)

    async def find(self, query: AppointmentQuery) -> Sequence[Row]:
        """The caller's scope and the party filters; the other filters are PostgreSQL's tests'
        (tests/appointments)."""
        wanted = {
            "patient_id": query.scope_patient_id or query.patient_id,
            "doctor_id": query.scope_doctor_id or query.doctor_id,
        }
        rows = [
            dict(row)
            for row in self._state.appointments.values()
            if all(value is None or row[key] == value for key, value in wanted.items())
        ]
        rows.sort(key=lambda row: (row["start_at"], row["id"]), reverse=query.descending)
        if query.after is not None:
            after = query.after
            rows = [
                row
                for row in rows
                if (
                    (row["start_at"], row["id"]) < after
                    if query.descending
                    else (row["start_at"], row["id"]) > after
                )
            ]
        return rows[: query.limit]

    async def first_overlap(
        self, party: str, party_id: UUID, start_at: datetime, end_at: datetime
    ) -> Row | None:
        found = self._overlapping(party, party_id, start_at, end_at, None)
        return dict(found[0]) if found else None


# Doctors of the fake store work round the clock: the availability rules have their own tests
# (tests/scheduling); these are about the booking use case around them.
ROUND_THE_CLOCK = Availability(
    time_zone="UTC",
    weekly_hours=tuple(WeeklyInterval(day, 0, 24 * 60) for day in range(7)),
    minimum_notice_minutes=0,
    horizon_days=730,
)


class DoctorsAvailability:
    """Every doctor always available; an overlap is left to the appointments store."""

    def __init__(self, state: State) -> None:
        self._state = state

    async def doctor(self, doctor_id: UUID) -> Doctor | None:
        found = self._state.users.get(doctor_id)
        if found is None or found.role is not Role.DOCTOR:
            return None
        return Doctor(found.id, found.full_name)

    async def availability(self, doctor_ids: Sequence[UUID]) -> dict[UUID, Availability]:
        return {doctor_id: ROUND_THE_CLOCK for doctor_id in doctor_ids}

    async def save(
        self, doctor_id: UUID, availability: Availability, expected_version: int, by: UUID
    ) -> int | None:
        raise NotImplementedError

    async def busy(
        self,
        doctor_ids: Sequence[UUID],
        start: datetime,
        end: datetime,
        exclude: UUID | None = None,
    ) -> dict[UUID, list[Busy]]:
        return {}

    async def calendars(
        self,
        *,
        start: datetime,
        end: datetime,
        doctor_id: UUID | None = None,
        specialty: str | None = None,
        limit: int = 1,
    ) -> list[Calendar]:
        raise NotImplementedError

    async def upcoming(
        self, doctor_id: UUID, start: datetime, end: datetime
    ) -> list[Mapping[str, Any]]:
        raise NotImplementedError


class Outbox:
    def __init__(self, state: State) -> None:
        self._state = state

    async def enqueue(
        self,
        message: Message,
        *,
        not_before: datetime | None = None,
        dedup_key: str | None = None,
    ) -> UUID | None:
        if dedup_key is not None and any(key == dedup_key for *_, key in self._state.outbox):
            return None
        self._state.outbox.append((message.kind, message.payload(), dedup_key))
        return uuid4()


class AuditLog:
    def __init__(self, state: State) -> None:
        self._state = state

    async def append(self, context: RequestContext, events: Sequence[AuditEvent]) -> None:
        self._state.audit.extend((context, copy.copy(event)) for event in events)


class UnitOfWork:
    def __init__(
        self, store: Store, context: RequestContext, *, read_only: bool, kind: str = ""
    ) -> None:
        self._store = store
        self._read_only = read_only
        self._kind = kind or ("single_read" if read_only else "unit_of_work")
        self.audit = AuditTrail(context)
        self._begin()

    def _begin(self) -> None:
        self._state = copy.deepcopy(self._store.state)
        self.users = Users(self._state)
        self.appointments = Appointments(self._state)
        self.audit_log = AuditLog(self._state)
        self.availability = DoctorsAvailability(self._state)
        self.outbox = Outbox(self._state)

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"the fake store has no {name}")

    async def __aenter__(self) -> Self:
        self._store.opened.append(self._kind)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        events = self.audit.settle(exc)
        if events:
            if exc is not None:
                self._begin()  # the refused change is rolled back; its event is kept
            await self.audit_log.append(self.audit.context, events)
            self._store.state = self._state

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a single read has no transaction to commit")
        await self.audit_log.append(self.audit.context, self.audit.take())
        self._store.state = self._state
        self._begin()

    async def rollback(self) -> None:
        self._begin()


class Store:
    """``domain.ports.Transactions`` over one in-memory state."""

    def __init__(self, context: RequestContext | None = None) -> None:
        self.state = State()
        self.context = context or RequestContext()
        self.opened: list[str] = []  # which kind of unit each use case opened

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self, self.context, read_only=False)

    def single_read(self) -> UnitOfWork:
        return UnitOfWork(self, self.context, read_only=True)

    def stale_read(self) -> UnitOfWork:
        # No replica in memory: the primary's state, recorded as the kind the use case chose.
        return UnitOfWork(self, self.context, read_only=True, kind="stale_read")

    def add_user(self, role: Role, name: str = "") -> User:
        now = _now()
        user = User(
            uuid4(), f"{uuid4().hex}@example.org", name or role.value, role, None, True, 1, now, now
        )
        self.state.users[user.id] = user
        return user

    def audit_outcomes(self) -> list[tuple[str, int | None, str | None]]:
        return [(event.action, event.outcome, event.reason) for _, event in self.state.audit]
