"""Use cases of doctors' availability: read and change it, search free slots, check a booking,
list the appointments a changed schedule no longer covers.

The rules and the arithmetic are in ``domain.scheduling``; what this module needs from storage
is typed below as ports (``AvailabilityStore``, ``SchedulingUnit``), implemented in
``persistence.availability``.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import operator
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson

from domain import scheduling
from domain.audit import AuditTrail
from domain.errors import (
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    UnprocessableRequest,
)
from domain.model import Caller, Role
from domain.scheduling import Availability, Busy, Rule

if TYPE_CHECKING:
    from domain.ports import Transactions

NO_DOCTOR = "No such doctor."
MAX_SPECIALTY_DOCTORS = 100
MAX_SPECIALTY_SLOTS = 1000
OUTSIDE_LOOKAHEAD = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Doctor:
    id: UUID
    full_name: str


@dataclass(frozen=True, slots=True)
class Calendar:
    """A doctor, their availability and their slot-holding appointments around a window."""

    doctor: Doctor
    availability: Availability
    busy: list[Busy]


class AvailabilityStore(Protocol):
    async def doctor(self, doctor_id: UUID) -> Doctor | None:
        """The active doctor with this id."""

    async def availability(self, doctor_ids: Sequence[UUID]) -> dict[UUID, Availability]:
        """Stored availabilities; a doctor without one is absent (``scheduling.DEFAULT``)."""

    async def save(
        self, doctor_id: UUID, availability: Availability, expected_version: int, by: UUID
    ) -> int | None:
        """Write it if the stored version is still ``expected_version``; the new version, or
        None when it changed meanwhile."""

    async def busy(
        self,
        doctor_ids: Sequence[UUID],
        start: datetime,
        end: datetime,
        exclude: UUID | None = None,
    ) -> dict[UUID, list[Busy]]:
        """Slot-holding appointments of these doctors meeting [start, end)."""

    async def calendars(
        self,
        *,
        start: datetime,
        end: datetime,
        doctor_id: UUID | None = None,
        specialty: str | None = None,
        limit: int = 1,
    ) -> list[Calendar]:
        """The active doctor ``doctor_id``, or the first ``limit`` active doctors of
        ``specialty`` by name and id, each with their appointments meeting [start, end)."""

    async def upcoming(
        self, doctor_id: UUID, start: datetime, end: datetime
    ) -> list[Mapping[str, Any]]:
        """Booked and arrived appointments starting in [start, end), by start."""


class SchedulingUnit(Protocol):
    @property
    def availability(self) -> AvailabilityStore: ...

    @property
    def audit(self) -> AuditTrail: ...

    async def commit(self) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def etag(version: int) -> str:
    return f'"v{version}"'


def _matches(if_match: str, version: int) -> bool:
    tags = [tag.strip() for tag in if_match.split(",")]
    return "*" in tags or etag(version) in tags


async def _doctor(store: AvailabilityStore, doctor_id: UUID) -> Doctor:
    doctor = await store.doctor(doctor_id)
    if doctor is None:
        raise NotFound(NO_DOCTOR)
    return doctor


async def current(store: AvailabilityStore, doctor_id: UUID) -> Availability:
    return (await store.availability([doctor_id])).get(doctor_id, scheduling.DEFAULT)


async def _get(uow: SchedulingUnit, doctor_id: UUID) -> Availability:
    """Any signed-in user may read a doctor's availability (a patient needs the zone)."""
    await _doctor(uow.availability, doctor_id)
    return await current(uow.availability, doctor_id)


def _may_edit(caller: Caller, doctor_id: UUID) -> None:
    if caller.role is Role.ADMIN or (caller.role is Role.DOCTOR and caller.id == doctor_id):
        return
    raise Forbidden("Only the doctor themself or an admin may do this.")


async def _replace(
    uow: SchedulingUnit,
    caller: Caller,
    doctor_id: UUID,
    body: dict[str, Any],
    if_match: str | None,
) -> Availability:
    """Replace the availability, only if the client saw its current version (If-Match).
    Existing appointments stay (``outside`` lists the ones it no longer covers)."""
    uow.audit.record("availability.update", "doctor_availability", doctor_id)
    _may_edit(caller, doctor_id)
    store = uow.availability
    await _doctor(store, doctor_id)
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag of the availability you are changing."
        )
    stored = await current(store, doctor_id)
    if not _matches(if_match, stored.version):
        raise PreconditionFailed(
            "The availability changed since you read it; read it again and retry.",
            current_version=stored.version,
        )
    wanted = scheduling.from_body(body, version=stored.version)
    version = await store.save(doctor_id, wanted, stored.version, caller.id)
    if version is None:
        latest = await current(store, doctor_id)
        raise PreconditionFailed(
            "The availability changed since you read it; read it again and retry.",
            current_version=latest.version,
        )
    await uow.commit()
    return dataclasses.replace(wanted, version=version)


@dataclass(frozen=True, slots=True)
class SlotSearch:
    window_from: datetime
    window_to: datetime
    time_zone: str | None = None
    length_minutes: int | None = None


def _length(availability: Availability, wanted: int | None) -> int | None:
    if wanted is None:
        return availability.appointment_minutes[0]
    return wanted if wanted in availability.appointment_minutes else None


# How long an offset found at one instant is taken to hold, unless the zone's offset at the end
# of that span differs (then the change is found by bisection). Exact while no zone changes its
# offset twice within the span, which tests/scheduling/test_slots.py checks for every zone
# over the years slots can lie in (today's rules space changes weeks apart at the least).
OFFSET_SPAN = timedelta(hours=24)
_MICROSECOND = timedelta(microseconds=1)


def _spelled(naive: Sequence[datetime]) -> list[str]:
    """``isoformat``'s text of naive datetimes, in one orjson call (orjson writes it in C; no
    spelling contains ``","``)."""
    if not naive:
        return []
    return orjson.dumps(naive)[2:-2].decode().split('","')


@functools.lru_cache(maxsize=1024)  # zones use a few hundred offsets at most
def _offset_text(offset: timedelta) -> str:
    """A UTC offset as ``isoformat`` appends it: ``+HH:MM``, seconds only when not zero."""
    sign = "-" if offset < timedelta(0) else "+"
    seconds, micro = divmod(abs(offset), timedelta(seconds=1))
    hours, rest = divmod(int(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    if seconds or micro:
        text += f":{seconds:02d}"
        if micro:
            text += f".{micro.microseconds:06d}"
    return text


def _offset_at(moment: datetime, tz: ZoneInfo) -> timedelta:
    offset = scheduling.aware_utc(moment).astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _steady_offset(moment: datetime, tz: ZoneInfo) -> tuple[datetime, timedelta]:
    """The offset of ``tz`` at ``moment`` (naive UTC) and the instant it ends, at most
    ``OFFSET_SPAN`` later: a conversion per span instead of one per instant."""
    offset = _offset_at(moment, tz)
    low, high = moment, moment + OFFSET_SPAN
    if _offset_at(high, tz) == offset:
        return high, offset
    while high - low > _MICROSECOND:  # the first instant with the next offset
        middle = low + (high - low) // 2
        if _offset_at(middle, tz) == offset:
            low = middle
        else:
            high = middle
    return high, offset


def _local_texts(instants: Sequence[datetime], tz: ZoneInfo) -> list[str]:
    """``isoformat`` of each instant (naive UTC) converted to ``tz``: the local wall time is the
    instant plus the zone's offset then. Sorted instants (what a search spells) are taken a
    span of one offset at a time: the additions and the suffixes are done by ``map`` in C and
    the texts in one orjson call."""
    if sorted(instants) != instants:
        order = sorted(range(len(instants)), key=instants.__getitem__)
        spelled = _local_texts([instants[n] for n in order], tz)
        texts = [""] * len(instants)
        for n, text in zip(order, spelled, strict=True):
            texts[n] = text
        return texts
    walls: list[datetime] = []
    spans: list[tuple[int, str]] = []
    here, count = 0, len(instants)
    while here < count:
        until, offset = _steady_offset(instants[here], tz)
        end = bisect_left(instants, until, here)
        walls.extend(map(operator.add, instants[here:end], itertools.repeat(offset)))
        spans.append((end, _offset_text(offset)))
        here = end
    spelled, texts, here = _spelled(walls), [], 0
    for end, suffix in spans:
        texts.extend(map(operator.add, spelled[here:end], itertools.repeat(suffix)))
        here = end
    return texts


@dataclass(frozen=True, slots=True)
class Spellings:
    """Slots' starts and ends as the reply writes them: in UTC with a ``Z`` (like every
    timestamp of the API, ``domain.model.utc_iso``) and in the zone asked for, with its offset
    (exactly ``isoformat``'s text, ``+00:00`` for a zero offset)."""

    start_at: list[str]
    end_at: list[str]
    local_start_at: list[str]
    local_end_at: list[str]


def spellings(starts: Sequence[datetime], ends: Sequence[datetime], tz: ZoneInfo) -> Spellings:
    """Spell slots given by their starts and ends (naive UTC, the starts sorted). Spelling is
    most of a slot's cost, so it is done in bulk: a few orjson calls per reply, a zone
    conversion per day rather than per instant, and an end that is the next slot's start (most
    are) spelled once."""
    count = len(starts)
    lone = [n for n, (end, after) in enumerate(zip(ends, starts[1:], strict=False)) if end != after]
    if count:
        lone.append(count - 1)
    lone_ends = [ends[n] for n in lone]

    def utc(instants: Sequence[datetime]) -> list[str]:
        return list(map(operator.add, _spelled(instants), itertools.repeat("Z")))

    def then(starts_spelled: list[str], ends_spelled: list[str]) -> list[str]:
        texts = starts_spelled[1:]
        texts.append("")
        for n, text in zip(lone, ends_spelled, strict=True):
            texts[n] = text
        return texts[:count]

    start_at, local_start_at = utc(starts), _local_texts(starts, tz)
    return Spellings(
        start_at,
        then(start_at, utc(lone_ends)),
        local_start_at,
        then(local_start_at, _local_texts(lone_ends, tz)),
    )


def _reach(search: SlotSearch) -> tuple[datetime, datetime]:
    """The appointments that can matter to slots starting in the window, whatever the
    doctors' buffers and lengths: read in the search's one statement, before they are known."""
    margin = timedelta(minutes=scheduling.MAX_BUFFER + scheduling.MAX_LENGTH)
    return search.window_from - margin, search.window_to + margin


def _query(
    search: SlotSearch, minutes: int, now: datetime, calendar: Calendar
) -> scheduling.SlotQuery:
    return scheduling.SlotQuery(
        search.window_from, search.window_to, timedelta(minutes=minutes), now, calendar.busy
    )


async def _doctor_slots(uow: SchedulingUnit, doctor_id: UUID, search: SlotSearch) -> dict[str, Any]:
    """The free slots of one doctor starting in the window, spelled also in the zone asked for
    (the doctor's by default). One statement: the unit may be a single read."""
    scheduling.check_window(search.window_from, search.window_to)
    start, end = _reach(search)
    found = await uow.availability.calendars(start=start, end=end, doctor_id=doctor_id)
    if not found:
        raise NotFound(NO_DOCTOR)
    calendar = found[0]
    availability = calendar.availability
    zone_name = search.time_zone or availability.time_zone
    tz = scheduling.zone(zone_name)
    minutes = _length(availability, search.length_minutes)
    if minutes is None:
        raise UnprocessableRequest(
            "The doctor does not offer appointments of that length; offered: "
            + ", ".join(str(m) for m in availability.appointment_minutes)
            + " minutes.",
            invalid_field="length",
        )
    starts = scheduling.free_starts(availability, _query(search, minutes, _now(), calendar))
    length = timedelta(minutes=minutes)
    spelled = spellings(starts, [start + length for start in starts], tz)
    return {
        "doctor_id": doctor_id,
        "time_zone": zone_name,
        "length_minutes": minutes,
        "items": [
            {"start_at": a, "end_at": b, "local_start_at": c, "local_end_at": d}
            for a, b, c, d in zip(
                spelled.start_at,
                spelled.end_at,
                spelled.local_start_at,
                spelled.local_end_at,
                strict=True,
            )
        ],
    }


async def _specialty_slots(
    uow: SchedulingUnit, specialty: str, search: SlotSearch, limit: int
) -> dict[str, Any]:
    """Free slots of every active doctor of a specialty (the first 100 by name), by start
    time, then doctor name and id; at most ``limit`` (``truncated`` says there were more:
    narrow the window). One statement: the unit may be a single read."""
    scheduling.check_window(search.window_from, search.window_to)
    zone_name = search.time_zone or "UTC"
    tz = scheduling.zone(zone_name)
    start, end = _reach(search)
    calendars = await uow.availability.calendars(
        start=start, end=end, specialty=specialty, limit=MAX_SPECIALTY_DOCTORS
    )
    now = _now()
    streams, lengths = [], {}
    for order, calendar in enumerate(calendars):
        minutes = _length(calendar.availability, search.length_minutes)
        if minutes is not None:
            query = _query(search, minutes, now, calendar)
            starts = scheduling.free_starts(calendar.availability, query)
            streams.append(zip(starts, itertools.repeat(order)))
            lengths[order] = query.length
    # Each doctor's starts come sorted: merged by start, then the doctors' order, only as
    # many as the reply holds (and one more, to tell whether there were more).
    found = list(itertools.islice(heapq.merge(*streams), limit + 1))
    picked = found[:limit]
    spelled = spellings(
        [start for start, _ in picked], [start + lengths[order] for start, order in picked], tz
    )
    return {
        "specialty": specialty,
        "time_zone": zone_name,
        "items": [
            {
                "doctor_id": calendars[order].doctor.id,
                "doctor_name": calendars[order].doctor.full_name,
                "start_at": a,
                "end_at": b,
                "local_start_at": c,
                "local_end_at": d,
            }
            for (_, order), a, b, c, d in zip(
                picked,
                spelled.start_at,
                spelled.end_at,
                spelled.local_start_at,
                spelled.local_end_at,
                strict=True,
            )
        ],
        "truncated": len(found) > limit,
        "limit": limit,
    }


async def check_booking(
    uow: SchedulingUnit,
    caller: Caller,
    doctor_id: UUID,
    start: datetime,
    end: datetime,
    *,
    override: bool,
    appointment_id: UUID | None = None,
) -> Rule | None:
    """Refuse (422, the rule's own problem type) a booking or change of time the doctor's
    availability does not allow; an overlap is left to PostgreSQL's exclusion constraint (409).
    An admin's override lets it through and returns the rule it overrode, for the audit."""
    if override and caller.role is not Role.ADMIN:
        raise Forbidden("Only admins may book outside a doctor's availability.")
    store = uow.availability
    availability = await current(store, doctor_id)
    buffer = timedelta(minutes=availability.buffer_minutes)
    busy = await store.busy([doctor_id], start - buffer, end + buffer, exclude=appointment_id)
    rule = scheduling.violation(availability, start, end, _now(), busy.get(doctor_id, []))
    if rule is None or rule is Rule.OVERLAP:
        return None
    if not override:
        raise scheduling.refusal(rule, availability)
    return rule


def record_override(uow: SchedulingUnit, rule: Rule, appointment_id: UUID, status: int) -> None:
    """An audit event of its own for an admin's booking outside availability, naming the rule."""
    uow.audit.record(
        f"appointment.override.{rule.value}",
        "appointment",
        appointment_id,
        success_status=status,
    )


async def _outside(
    uow: SchedulingUnit, caller: Caller, doctor_id: UUID, limit: int
) -> dict[str, Any]:
    """The doctor's booked and arrived appointments of the next year that the current working
    hours or time off no longer cover: kept, listed for the doctor to move or cancel."""
    event = uow.audit.record("availability.outside", "doctor_availability", doctor_id)
    _may_edit(caller, doctor_id)
    store = uow.availability
    await _doctor(store, doctor_id)
    availability = await current(store, doctor_id)
    now = _now()
    items = [
        row
        for row in await store.upcoming(doctor_id, now, now + OUTSIDE_LOOKAHEAD)
        if scheduling.outside_availability(availability, row["start_at"], row["end_at"])
    ]
    event.patient_ids.update(row["patient_id"] for row in items[:limit])
    return {
        "items": [
            {
                "id": row["id"],
                "patient_id": row["patient_id"],
                "start_at": row["start_at"],
                "end_at": row["end_at"],
                "status": row["status"],
            }
            for row in items[:limit]
        ],
        "truncated": len(items) > limit,
        "limit": limit,
    }


# The use cases, each choosing its transaction: reads of one statement need none.


async def get(tx: Transactions, doctor_id: UUID) -> Availability:
    async with tx.unit_of_work() as uow:
        return await _get(uow, doctor_id)


async def replace(
    tx: Transactions, caller: Caller, doctor_id: UUID, body: dict[str, Any], if_match: str | None
) -> Availability:
    async with tx.unit_of_work() as uow:
        return await _replace(uow, caller, doctor_id, body, if_match)


async def outside(tx: Transactions, caller: Caller, doctor_id: UUID, limit: int) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        return await _outside(uow, caller, doctor_id, limit)


# Slot searches may be a second behind (``stale_read``): a slot booked meanwhile by someone
# else is refused at booking by the exclusion constraint (409), as it would be anyway when two
# patients pick the same slot.


async def doctor_slots(tx: Transactions, doctor_id: UUID, search: SlotSearch) -> dict[str, Any]:
    async with tx.stale_read() as uow:
        return await _doctor_slots(uow, doctor_id, search)


async def specialty_slots(
    tx: Transactions, specialty: str, search: SlotSearch, limit: int
) -> dict[str, Any]:
    async with tx.stale_read() as uow:
        return await _specialty_slots(uow, specialty, search, limit)
