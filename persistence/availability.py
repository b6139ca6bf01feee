"""Doctors' availability and the appointments that occupy it (``domain.availability``'s port)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert

from domain import scheduling
from domain.availability import Calendar, Doctor
from domain.scheduling import Availability, Busy
from persistence.schema import (
    MAX_DURATION_HOURS,
    SLOT_HOLDING_STATUSES,
    appointments,
    doctor_availability,
    users,
)
from persistence.sql import Sql

if TYPE_CHECKING:
    from persistence.executor import Executor

_a, _d, _u = appointments, doctor_availability, users
_LIVE_DOCTOR = (_u.c.role == "doctor", _u.c.active.is_(True))
_HOLDING = text(
    "appointments.status IN (" + ", ".join(f"'{s}'" for s in SLOT_HOLDING_STATUSES) + ")"
)
_DOCTOR = Sql(select(_u.c.id, _u.c.full_name).where(_u.c.id == bindparam("id"), *_LIVE_DOCTOR))
_IDS = bindparam("ids", type_=ARRAY(Uuid))
_AVAILABILITY = Sql(
    select(_d.c.doctor_id, _d.c.time_zone, _d.c.schedule, _d.c.version).where(
        _d.c.doctor_id == func.any(_IDS)
    )
)
# Appointments meeting [start, end): their duration is bounded (a CHECK), so start_at is bounded
# on both sides and the (doctor_id, start_at) index answers with one range scan per doctor.
_BUSY = Sql(
    select(_a.c.doctor_id, _a.c.start_at, _a.c.end_at)
    .where(
        _a.c.doctor_id == func.any(_IDS),
        _a.c.deleted_at.is_(None),
        _HOLDING,
        _a.c.start_at < bindparam("end"),
        _a.c.start_at > bindparam("earliest_start"),
        _a.c.end_at > bindparam("start"),
        _a.c.id.is_distinct_from(bindparam("exclude", type_=Uuid)),
    )
    .order_by(_a.c.doctor_id, _a.c.start_at)
)
_UPCOMING = Sql(
    select(_a.c.id, _a.c.patient_id, _a.c.start_at, _a.c.end_at, _a.c.status)
    .where(
        _a.c.doctor_id == bindparam("doctor_id"),
        _a.c.deleted_at.is_(None),
        text("appointments.status IN ('booked', 'arrived')"),
        _a.c.start_at >= bindparam("start"),
        _a.c.start_at < bindparam("end"),
    )
    .order_by(_a.c.start_at, _a.c.id)
)
_VALUES: dict[str, Any] = {
    "time_zone": bindparam("time_zone"),
    "schedule": bindparam("schedule"),
    "updated_by": bindparam("by"),
}
_UPDATE = Sql(
    _d.update()
    .where(_d.c.doctor_id == bindparam("doctor_id"), _d.c.version == bindparam("expected"))
    .values(**_VALUES, version=_d.c.version + 1, updated_at=func.now())
    .returning(_d.c.version)
)
# The first change of a doctor who still has the default (no row): at most one wins.
_INSERT = Sql(
    insert(_d)
    .values(doctor_id=bindparam("doctor_id"), version=bindparam("version"), **_VALUES)
    .on_conflict_do_nothing(index_elements=[_d.c.doctor_id])
    .returning(_d.c.version)
)


def _stored(row: Mapping[str, Any]) -> Availability:
    body = dict(row["schedule"])
    body["time_zone"] = row["time_zone"]
    return scheduling.from_body(body, version=row["version"])


@lru_cache(maxsize=4096)
def _parsed(time_zone: str, schedule: str, version: int) -> Availability:
    """A stored availability, parsed once per content: the key is the content itself, so a
    changed row is a new key and nothing can go stale."""
    body = orjson.loads(schedule)
    body["time_zone"] = time_zone
    return scheduling.from_body(body, version=version)


# Everything a slot search needs in one statement (one round trip, no transaction): the active
# doctor(s), their stored availability (NULL: the default), and the start and end times of their
# slot-holding appointments meeting the window (widened by the caller for buffer and length).
_CALENDAR_COLUMNS = """
    u.id, u.full_name, d.time_zone, d.schedule::text AS schedule, d.version,
    ARRAY(SELECT a.start_at FROM appointments a
          WHERE a.doctor_id = u.id AND a.deleted_at IS NULL
            AND a.status IN ('booked', 'arrived', 'fulfilled')
            AND a.start_at < :end AND a.start_at > :earliest_start AND a.end_at > :start
          ORDER BY a.start_at) AS busy_starts,
    ARRAY(SELECT a.end_at FROM appointments a
          WHERE a.doctor_id = u.id AND a.deleted_at IS NULL
            AND a.status IN ('booked', 'arrived', 'fulfilled')
            AND a.start_at < :end AND a.start_at > :earliest_start AND a.end_at > :start
          ORDER BY a.start_at) AS busy_ends
    FROM users u LEFT JOIN doctor_availability d ON d.doctor_id = u.id
"""
_CALENDAR_OF_DOCTOR = Sql(
    text("SELECT" + _CALENDAR_COLUMNS + "WHERE u.id = :id AND u.role = 'doctor' AND u.active")
)
_CALENDARS_OF_SPECIALTY = Sql(
    text(
        "SELECT"
        + _CALENDAR_COLUMNS
        + "WHERE u.specialty = :specialty AND u.role = 'doctor' AND u.active "
        + "ORDER BY u.full_name, u.id LIMIT :limit"
    )
)


def _calendar(row: Mapping[str, Any]) -> Calendar:
    availability = (
        scheduling.DEFAULT
        if row["schedule"] is None
        else _parsed(row["time_zone"], row["schedule"], row["version"])
    )
    return Calendar(
        Doctor(row["id"], row["full_name"]),
        availability,
        list(map(Busy._make, zip(row["busy_starts"], row["busy_ends"], strict=True))),
    )


class AvailabilityRepository:
    def __init__(self, executor: Executor) -> None:
        self._uow = executor

    async def doctor(self, doctor_id: UUID) -> Doctor | None:
        row = await self._uow.fetch_one(_DOCTOR, {"id": doctor_id})
        return None if row is None else Doctor(row["id"], row["full_name"])

    async def availability(self, doctor_ids: Sequence[UUID]) -> dict[UUID, Availability]:
        rows = await self._uow.fetch_all(_AVAILABILITY, {"ids": list(doctor_ids)})
        return {row["doctor_id"]: _stored(row) for row in rows}

    async def save(
        self, doctor_id: UUID, availability: Availability, expected_version: int, by: UUID
    ) -> int | None:
        document = scheduling.to_json(availability)
        time_zone = document.pop("time_zone")
        document.pop("version")
        params = {
            "doctor_id": doctor_id,
            "time_zone": time_zone,
            "schedule": Jsonb(document),
            "by": by,
            "expected": expected_version,
        }
        row = await self._uow.fetch_one(_UPDATE, params)
        if row is None and expected_version == scheduling.DEFAULT.version:
            row = await self._uow.fetch_one(_INSERT, params | {"version": expected_version + 1})
        return None if row is None else int(row["version"])

    async def busy(
        self,
        doctor_ids: Sequence[UUID],
        start: datetime,
        end: datetime,
        exclude: UUID | None = None,
    ) -> dict[UUID, list[Busy]]:
        rows = await self._uow.fetch_all(
            _BUSY,
            {
                "ids": list(doctor_ids),
                "start": start,
                "end": end,
                "earliest_start": start - timedelta(hours=MAX_DURATION_HOURS),
                "exclude": exclude,
            },
        )
        found: dict[UUID, list[Busy]] = {}
        for row in rows:
            found.setdefault(row["doctor_id"], []).append(Busy(row["start_at"], row["end_at"]))
        return found

    async def calendars(
        self,
        *,
        start: datetime,
        end: datetime,
        doctor_id: UUID | None = None,
        specialty: str | None = None,
        limit: int = 1,
    ) -> list[Calendar]:
        window = {
            "start": start,
            "end": end,
            "earliest_start": start - timedelta(hours=MAX_DURATION_HOURS),
        }
        if doctor_id is not None:
            rows = await self._uow.fetch_all(_CALENDAR_OF_DOCTOR, {**window, "id": doctor_id})
        else:
            rows = await self._uow.fetch_all(
                _CALENDARS_OF_SPECIALTY, {**window, "specialty": specialty, "limit": limit}
            )
        return [_calendar(row) for row in rows]

    async def upcoming(
        self, doctor_id: UUID, start: datetime, end: datetime
    ) -> list[Mapping[str, Any]]:
        rows = await self._uow.fetch_all(
            _UPCOMING, {"doctor_id": doctor_id, "start": start, "end": end}
        )
        return list(rows)
