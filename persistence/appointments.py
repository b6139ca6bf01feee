"""Appointments: booking, the caller-scoped reads, updates and soft deletion."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg.errors
from sqlalchemy import (
    BigInteger,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import ColumnElement

from domain.ports import SlotTaken
from domain.queries import AppointmentQuery
from persistence.executor import Executor
from persistence.listing import Listing
from persistence.schema import (
    MAX_DURATION_HOURS,
    SLOT_HOLDING_STATUSES,
    appointments,
    users,
)
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow


_a = appointments
_doctor = users.alias("doctor")
_patient = users.alias("patient")

COLUMNS = (
    _a.c.id,
    _a.c.patient_id,
    _patient.c.full_name.label("patient_name"),
    _a.c.doctor_id,
    _doctor.c.full_name.label("doctor_name"),
    _a.c.start_at,
    _a.c.end_at,
    _a.c.status,
    _a.c.reason,
    _a.c.notes,
    _a.c.cancellation_reason,
    _a.c.version,
    _a.c.created_at,
    _a.c.updated_at,
)
_WITH_NAMES = _a.join(_doctor, _doctor.c.id == _a.c.doctor_id).join(
    _patient, _patient.c.id == _a.c.patient_id
)
_LIVE = _a.c.deleted_at.is_(None)
# Spelled out, not in_(): an expanding IN cannot be compiled once ahead of time.
_SLOT_HOLDING = text(
    "appointments.status IN (" + ", ".join(f"'{s}'" for s in SLOT_HOLDING_STATUSES) + ")"
)


def _in_order(where: list[ColumnElement[bool]], shape: frozenset[str]) -> Any:
    desc = "descending" in shape
    if "after" in shape:
        key = tuple_(_a.c.start_at, _a.c.id)
        cursor = tuple_(bindparam("after_start"), bindparam("after_id"))
        where.append(key < cursor if desc else key > cursor)
    order = (_a.c.start_at.desc(), _a.c.id.desc()) if desc else (_a.c.start_at, _a.c.id)
    return (
        select(*COLUMNS)
        .select_from(_WITH_NAMES)
        .where(_LIVE, *where)
        .order_by(*order)
        .limit(bindparam("limit"))
    )


_EARLIEST_START = timedelta(hours=MAX_DURATION_HOURS)

LISTING = Listing(
    AppointmentQuery,
    {
        "scope_patient_id": lambda: [_a.c.patient_id == bindparam("scope_patient_id")],
        "scope_doctor_id": lambda: [_a.c.doctor_id == bindparam("scope_doctor_id")],
        "doctor_id": lambda: [_a.c.doctor_id == bindparam("doctor_id")],
        "patient_id": lambda: [_a.c.patient_id == bindparam("patient_id")],
        "statuses": lambda: [_a.c.status == func.any(bindparam("statuses"))],
        # Overlapping [from, to): end_at > from. Appointments last at most 8 hours, so also
        # start_at > from - 8h: a bound on the indexed column turns this into a range scan.
        "window_from": lambda: [
            _a.c.end_at > bindparam("window_from"),
            _a.c.start_at > bindparam("earliest_start"),
        ],
        "window_to": lambda: [_a.c.start_at < bindparam("window_to")],
        "created_after": lambda: [_a.c.created_at > bindparam("created_after")],
    },
    _in_order,
    binders={
        "window_from": lambda moment: {
            "window_from": moment,
            "earliest_start": moment - _EARLIEST_START,
        },
        "after": lambda after: {"after_start": after[0], "after_id": after[1]},
    },
    cache_size=1024,
)


# Slot locks: a booking or change of time first takes transaction-scoped advisory locks on
# (party, hour) for its doctor and its patient and every hour its times touch, all in one
# statement, in ascending key order. Two requests whose slots overlap for a party share a key,
# so the second waits for the first to end before it writes, and its exclusion check never
# waits on an unfinished row; locks always taken in one global order cannot wait on each other
# in a cycle. Requests for different hours of one doctor share no key and run side by side.
# (README, Decisions: "Bookings cannot deadlock".)
SLOT_LOCK_BUCKET = timedelta(hours=1)


def slot_lock_keys(party_ids: Iterable[UUID], start_at: datetime, end_at: datetime) -> list[int]:
    """The advisory lock keys of [start_at, end_at) for each party, sorted. A point in both of
    two overlapping ranges lies in an hour both ranges touch, so they share that hour's key."""
    bucket = SLOT_LOCK_BUCKET.total_seconds()
    first = math.floor(start_at.timestamp() / bucket)
    last = math.ceil(end_at.timestamp() / bucket)  # exclusive: the range is half-open
    keys = {
        int.from_bytes(
            hashlib.blake2b(
                party.bytes + hour.to_bytes(8, "big", signed=True), digest_size=8
            ).digest(),
            "big",
            signed=True,
        )
        for party in party_ids
        for hour in range(first, last)
    }
    return sorted(keys)


_key = column("key", BigInteger)
_TAKE_SLOT_LOCKS = (
    select(func.pg_advisory_xact_lock(_key))
    .select_from(func.unnest(cast(bindparam("lock_keys"), ARRAY(BigInteger))).alias("key"))
    # Volatile functions in the output list run after the sort: locks in ascending order.
    .order_by(_key)
    .subquery("slot_locks")
)
# A condition that holds once every slot lock is held: an uncorrelated subquery, which
# PostgreSQL runs once before the statement writes its first row. Folded into the write
# itself, the locks cost no round trip of their own.
_SLOT_LOCKS_HELD = select(func.count()).select_from(
    _TAKE_SLOT_LOCKS
).scalar_subquery() == func.cardinality(cast(bindparam("lock_keys"), ARRAY(BigInteger)))

_GET = Sql(select(*COLUMNS).select_from(_WITH_NAMES).where(_a.c.id == bindparam("id"), _LIVE))
_LOCK = Sql(
    select(_a.c.id, _a.c.patient_id, _a.c.doctor_id, _a.c.status, _a.c.start_at, _a.c.end_at)
    .add_columns(_a.c.version, _a.c.reason, _a.c.notes, _a.c.cancellation_reason)
    .where(_a.c.id == bindparam("id"), _LIVE)
    .with_for_update()
)


def _with_names(written: Any) -> Any:
    """The API's columns of the rows a write returns (``written``: its RETURNING as a CTE),
    with the parties' names: the row in the write's own round trip, not another one, which
    also ends the write's hold on its slot locks sooner."""
    doctor, patient = users.alias("written_doctor"), users.alias("written_patient")
    return select(
        *(
            doctor.c.full_name.label("doctor_name")
            if column.name == "doctor_name"
            else patient.c.full_name.label("patient_name")
            if column.name == "patient_name"
            else written.c[column.name]
            for column in COLUMNS
        )
    ).select_from(
        written.join(doctor, doctor.c.id == written.c.doctor_id).join(
            patient, patient.c.id == written.c.patient_id
        )
    )


_INSERTED = ("patient_id", "doctor_id", "booked_by", "start_at", "end_at", "reason")
_INSERT = Sql(
    _with_names(
        _a.insert()
        .from_select(
            list(_INSERTED),
            select(*(cast(bindparam(name), _a.c[name].type) for name in _INSERTED)).where(
                _SLOT_LOCKS_HELD
            ),
        )
        .returning(*_a.c)
        .cte("inserted")
    )
)
_SOFT_DELETE = Sql(
    _a.update()
    .where(_a.c.id == bindparam("id"), _LIVE)
    .values(deleted_at=func.now(), updated_at=func.now(), version=_a.c.version + 1)
)
_HAVE_MET = Sql(
    select(
        exists().where(
            _a.c.doctor_id == bindparam("doctor_id"),
            _a.c.patient_id == bindparam("patient_id"),
            _LIVE,
        )
    )
)


def _overlap_sql(party: str) -> Sql:
    column = _a.c.doctor_id if party == "doctor" else _a.c.patient_id
    slot = func.tstzrange(_a.c.start_at, _a.c.end_at, literal_column("'[)'"))
    wanted = func.tstzrange(bindparam("start_at"), bindparam("end_at"), literal_column("'[)'"))
    return Sql(
        select(_a.c.start_at, _a.c.end_at)
        .where(
            column == bindparam("party_id"),
            _SLOT_HOLDING,
            _LIVE,
            slot.op("&&")(wanted),
        )
        .order_by(_a.c.start_at)
        .limit(1)
    )


_OVERLAP = {party: _overlap_sql(party) for party in ("doctor", "patient")}


class AppointmentRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def add(
        self,
        *,
        patient_id: UUID,
        doctor_id: UUID,
        booked_by: UUID,
        start_at: datetime,
        end_at: datetime,
        reason: str | None,
    ) -> DictRow:
        """Insert a booking once its slot locks are held, and return it as ``get`` would;
        ``SlotTaken`` if the times collide."""
        try:
            row = await self._run.fetch_one(
                _INSERT,
                {
                    "patient_id": patient_id,
                    "doctor_id": doctor_id,
                    "booked_by": booked_by,
                    "start_at": start_at,
                    "end_at": end_at,
                    "reason": reason,
                    "lock_keys": slot_lock_keys((doctor_id, patient_id), start_at, end_at),
                },
            )
        except psycopg.errors.ExclusionViolation as exc:
            raise SlotTaken(_party(exc)) from None
        assert row is not None
        return row

    async def get(self, appointment_id: UUID) -> DictRow | None:
        return await self._run.fetch_one(_GET, {"id": appointment_id})

    async def lock(self, appointment_id: UUID) -> DictRow | None:
        """The current row, locked until the transaction ends (serialises concurrent PUTs)."""
        return await self._run.fetch_one(_LOCK, {"id": appointment_id})

    async def update(
        self,
        appointment_id: UUID,
        changes: Mapping[str, Any],
        *,
        parties: tuple[UUID, UUID],
        start_at: datetime,
        end_at: datetime,
    ) -> DictRow:
        """Write ``changes`` once the slot locks of the times the row holds afterwards
        (``start_at``-``end_at``) are held for both ``parties`` (any write of the row may have
        PostgreSQL check the exclusion constraints again, a change of time above all), and
        return the row as ``get`` would."""
        statement = _with_names(
            _a.update()
            .where(_a.c.id == appointment_id, _SLOT_LOCKS_HELD)
            .values(**changes, updated_at=func.now(), version=_a.c.version + 1)
            .returning(*_a.c)
            .cte("updated")
        )
        try:
            row = await self._run.fetch_one(
                Sql(statement), {"lock_keys": slot_lock_keys(parties, start_at, end_at)}
            )
        except psycopg.errors.ExclusionViolation as exc:
            raise SlotTaken(_party(exc)) from None
        assert row is not None  # the row is locked (``lock``) by the caller
        return row

    async def soft_delete(self, appointment_id: UUID) -> bool:
        return await self._run.execute(_SOFT_DELETE, {"id": appointment_id}) == 1

    async def find(self, query: AppointmentQuery) -> list[DictRow]:
        return await self._run.fetch_all(*LISTING.statement(query))

    async def first_overlap(
        self, party: str, party_id: UUID, start_at: datetime, end_at: datetime
    ) -> DictRow | None:
        return await self._run.fetch_one(
            _OVERLAP[party], {"party_id": party_id, "start_at": start_at, "end_at": end_at}
        )

    async def have_met(self, *, doctor_id: UUID, patient_id: UUID) -> bool:
        row = await self._run.fetch_one(
            _HAVE_MET, {"doctor_id": doctor_id, "patient_id": patient_id}
        )
        return bool(row and next(iter(row.values())))


def _party(exc: psycopg.errors.ExclusionViolation) -> str:
    constraint = exc.diag.constraint_name or ""
    return "patient" if "patient" in constraint else "doctor"
