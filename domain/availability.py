"""Use cases of doctors' availability: read and change it, search free slots, check a booking,
list the appointments a changed schedule no longer covers.

The rules and the arithmetic are in ``domain.scheduling``; what this module needs from storage
is typed below as ports (``AvailabilityStore``, ``SchedulingUnit``), implemented in
``persistence.availability``.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Iterator, Mapping, Sequence
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


def local_spellings(slots: Sequence[scheduling.Slot], tz: ZoneInfo) -> tuple[list[str], list[str]]:
    """The starts and the ends of ``slots`` spelled in ``tz`` (RFC 3339 with the zone's offset,
    ``+00:00`` for a zero one: exactly what ``isoformat`` writes). Spelling is most of a slot's
    cost: it is done in one orjson call per reply (orjson writes isoformat's text in C; without
    ``OPT_UTC_Z``, which would write a zero offset as ``Z``; slots lie on whole minutes, so no
    fraction appears, and no spelling contains ``","``), and an end that is the next slot's
    start (most are) is not spelled twice."""
    count = len(slots)
    if not count:
        return [], []
    lone = [n for n in range(count - 1) if slots[n].end_at != slots[n + 1].start_at]
    lone.append(count - 1)
    instants = [slot.start_at.astimezone(tz) for slot in slots]
    instants.extend(slots[n].end_at.astimezone(tz) for n in lone)
    spelled = orjson.dumps(instants)[2:-2].decode().split('","')
    starts = spelled[:count]
    ends = starts[1:]
    ends.append("")
    for n, end in zip(lone, spelled[count:], strict=True):
        ends[n] = end
    return starts, ends


def _slot_json(slot: scheduling.Slot, local_start: str, local_end: str) -> dict[str, Any]:
    """UTC instants to book with, and the same instants spelled in the zone asked for."""
    return {
        "start_at": slot.start_at,
        "end_at": slot.end_at,
        "local_start_at": local_start,
        "local_end_at": local_end,
    }


def _reach(search: SlotSearch) -> tuple[datetime, datetime]:
    """The appointments that can matter to slots starting in the window, whatever the
    doctors' buffers and lengths: read in the search's one statement, before they are known."""
    margin = timedelta(minutes=scheduling.MAX_BUFFER + scheduling.MAX_LENGTH)
    return search.window_from - margin, search.window_to + margin


def _in_order(
    order: int, slots: Iterator[scheduling.Slot]
) -> Iterator[tuple[datetime, int, scheduling.Slot]]:
    """A doctor's slots keyed for merging (a function, so that each stream keeps its own
    ``order``: a generator expression in the loop would read the loop's last one)."""
    return ((slot.start_at, order, slot) for slot in slots)


def _query(
    search: SlotSearch, minutes: int, now: datetime, calendar: Calendar
) -> scheduling.SlotQuery:
    return scheduling.SlotQuery(
        search.window_from, search.window_to, timedelta(minutes=minutes), now, calendar.busy
    )


def _free(
    calendar: Calendar, search: SlotSearch, minutes: int, now: datetime
) -> list[scheduling.Slot]:
    return scheduling.free_slots(calendar.availability, _query(search, minutes, now, calendar))


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
    slots = _free(calendar, search, minutes, _now())
    starts, ends = local_spellings(slots, tz)
    return {
        "doctor_id": doctor_id,
        "time_zone": zone_name,
        "length_minutes": minutes,
        "items": list(map(_slot_json, slots, starts, ends)),
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
    streams = []
    for order, calendar in enumerate(calendars):
        minutes = _length(calendar.availability, search.length_minutes)
        if minutes is not None:
            query = _query(search, minutes, now, calendar)
            slots = scheduling.iter_free_slots(calendar.availability, query)
            streams.append(_in_order(order, slots))
    # Each doctor's slots come in start order: merged by start, then the doctors' order, only
    # as many are made as the reply holds (and one more, to tell whether there were more).
    found = list(itertools.islice(heapq.merge(*streams), limit + 1))
    picked = found[:limit]
    starts, ends = local_spellings([slot for *_, slot in picked], tz)
    return {
        "specialty": specialty,
        "time_zone": zone_name,
        "items": [
            {
                "doctor_id": calendars[order].doctor.id,
                "doctor_name": calendars[order].doctor.full_name,
                **_slot_json(slot, local_start, local_end),
            }
            for (_, order, slot), local_start, local_end in zip(picked, starts, ends, strict=True)
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
