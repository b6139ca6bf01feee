"""Doctors' availability and free slots: plain functions over time, no I/O.

A doctor's availability is weekly working hours in the doctor's IANA time zone (several
intervals a day; an interval whose end is not after its start ends the next day, so a night
shift crosses midnight), days off and time off, the appointment lengths offered, a buffer kept
free around every appointment, a minimum notice and a booking horizon.

Working hours are wall-clock times: each local interval is placed on its local dates and turned
into absolute time with ``zoneinfo``, so a day with a daylight-saving change simply has a shorter
or longer interval. Slots are then laid on an absolute grid (the slot length) from the start of
each merged working interval: across a change each real half hour is offered exactly once, with
no slot in the spring-forward gap and none offered twice in the fall-back fold.

Two independent answers to one question, kept apart on purpose so the tests can hold them
against each other: ``free_slots`` subtracts intervals to list what is free; ``violation`` says
for one requested time which rule, if any, refuses it. Every slot listed passes ``violation``,
and every on-grid time that passes it is listed (tests/scheduling).
"""

from __future__ import annotations

import enum
import functools
import itertools
import operator
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.errors import InvalidRequest, UnprocessableRequest

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
ONE_DAY = timedelta(days=1)
MAX_WINDOW = timedelta(days=31)
MIN_LENGTH, MAX_LENGTH = 5, 480  # minutes: what an appointment may last (appointment_rules)
MAX_BUFFER = 240
MAX_NOTICE = 60 * 24 * 30
MAX_HORIZON_DAYS = 730
MAX_INTERVALS = 50
MAX_TIME_OFF = 200
MAX_LENGTHS = 8


class Rule(enum.StrEnum):
    """Why a time cannot be booked; each is its own problem type (``/docs/problems/<rule>``)."""

    MINIMUM_NOTICE = "inside-minimum-notice"
    HORIZON = "beyond-horizon"
    TIME_OFF = "in-time-off"
    OUTSIDE_HOURS = "outside-working-hours"
    BUFFER = "inside-buffer"
    # Not a 422: an overlap is refused by PostgreSQL's exclusion constraint (409 slot-taken).
    OVERLAP = "overlap"


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """``day`` 0 = Monday; minutes from local midnight; ``end <= start`` ends the next day."""

    day: int
    start: int
    end: int

    @property
    def minutes(self) -> int:
        return (
            self.end - self.start
            if self.end > self.start
            else MINUTES_PER_DAY - self.start + self.end
        )


@dataclass(frozen=True, slots=True)
class TimeOff:
    start_at: datetime
    end_at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Availability:
    time_zone: str
    weekly_hours: tuple[WeeklyInterval, ...]
    days_off: tuple[date, ...] = ()
    time_off: tuple[TimeOff, ...] = ()
    appointment_minutes: tuple[int, ...] = (30,)
    buffer_minutes: int = 0
    minimum_notice_minutes: int = 0
    horizon_days: int = 90
    version: int = 1
    # The weekly hours by weekday as (start, end) minutes, an end past midnight as minutes
    # after it: the key under which each day's hours are converted once (``_day_hours``).
    by_weekday: tuple[tuple[tuple[int, int], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        spans: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for interval in self.weekly_hours:
            until = (
                interval.end if interval.end > interval.start else interval.end + MINUTES_PER_DAY
            )
            spans[interval.day].append((interval.start, until))
        object.__setattr__(self, "by_weekday", tuple(tuple(day) for day in spans))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


# What a doctor works until they say otherwise (README, Decisions: "Availability defaults"):
# the migration gives every existing doctor a copy, and a doctor appointed later has it until
# the first change (version 1, ETag "v1", like a row the migration wrote).
DEFAULT = Availability(
    time_zone="UTC",
    weekly_hours=tuple(WeeklyInterval(day, 9 * 60, 17 * 60) for day in range(5)),
    appointment_minutes=(30,),
    buffer_minutes=0,
    minimum_notice_minutes=60,
    horizon_days=90,
)


class Busy(NamedTuple):
    """A slot-holding appointment (booked, arrived, fulfilled) of the doctor. A named tuple:
    a specialty's search reads hundreds, and one is also the (start, end) interval."""

    start_at: datetime
    end_at: datetime


class Slot(NamedTuple):
    """A free slot. A named tuple, not a frozen dataclass: a search makes thousands, and a
    tuple is built several times faster."""

    start_at: datetime
    end_at: datetime


Interval = tuple[datetime, datetime]


# ---- parsing and checking what a client sends ---------------------------------------------


def zone(name: str, field_name: str = "time_zone") -> ZoneInfo:
    """An IANA zone by name, or a 400 naming the field."""
    if name not in _zone_names():
        raise InvalidRequest(f"{field_name} is not an IANA time zone name (e.g. Europe/Berlin).")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unloadable
        raise InvalidRequest(f"{field_name}: time zone {name!r} cannot be loaded.") from None


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def _clock(value: str, field_name: str) -> int:
    """``HH:MM`` (00:00 to 24:00) as minutes from midnight."""
    if value == "24:00":
        return MINUTES_PER_DAY
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{field_name} must be a time like 09:30.") from None
    return parsed.hour * 60 + parsed.minute


def _bounded(body: dict[str, object], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high}.")
    return value


def from_body(body: dict[str, object], version: int) -> Availability:
    """The availability a client sent (the spec checked its shape; the rules are here)."""
    time_zone = str(body["time_zone"])
    zone(time_zone)
    intervals = []
    for index, item in enumerate(_list(body.get("weekly_hours"))):
        where = f"weekly_hours[{index}]"
        start = _clock(str(item["start"]), f"{where}.start")
        end = _clock(str(item["end"]), f"{where}.end")
        if start == MINUTES_PER_DAY:
            raise InvalidRequest(f"{where}: an interval cannot start at 24:00.")
        if end == start:
            raise InvalidRequest(f"{where}: start and end are the same time.")
        intervals.append(WeeklyInterval(DAYS.index(str(item["day"])), start, end))
    time_off = []
    for index, item in enumerate(_list(body.get("time_off"))):
        start_at = _aware(str(item["start_at"]))
        end_at = _aware(str(item["end_at"]))
        if start_at >= end_at:
            raise InvalidRequest(f"time_off[{index}]: start_at must be before end_at.")
        reason = item.get("reason")
        time_off.append(TimeOff(start_at, end_at, str(reason) if reason is not None else None))
    days_off = tuple(sorted({date.fromisoformat(str(day)) for day in _plain(body.get("days_off"))}))
    lengths_raw = body.get("appointment_minutes", [30])
    lengths = []
    for value in _plain(lengths_raw):
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not MIN_LENGTH <= value <= MAX_LENGTH
        ):
            raise InvalidRequest(
                f"appointment_minutes are whole minutes from {MIN_LENGTH} to {MAX_LENGTH}."
            )
        if value not in lengths:
            lengths.append(value)
    if not lengths:
        raise InvalidRequest("appointment_minutes needs at least one length.")
    return Availability(
        time_zone=time_zone,
        weekly_hours=tuple(sorted(intervals, key=lambda i: (i.day, i.start, i.end))),
        days_off=days_off,
        time_off=tuple(sorted(time_off, key=lambda t: (t.start_at, t.end_at))),
        appointment_minutes=tuple(lengths),
        buffer_minutes=_bounded(body, "buffer_minutes", 0, 0, MAX_BUFFER),
        minimum_notice_minutes=_bounded(body, "minimum_notice_minutes", 0, 0, MAX_NOTICE),
        horizon_days=_bounded(body, "horizon_days", 90, 1, MAX_HORIZON_DAYS),
        version=version,
    )


def _list(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _plain(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _aware(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise InvalidRequest("Timestamps need an offset, e.g. 2026-12-01T09:00:00+01:00.")
    return moment


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def to_json(availability: Availability) -> dict[str, object]:
    return {
        "time_zone": availability.time_zone,
        "weekly_hours": [
            {"day": DAYS[i.day], "start": _hhmm(i.start), "end": _hhmm(i.end)}
            for i in availability.weekly_hours
        ],
        "days_off": [day.isoformat() for day in availability.days_off],
        "time_off": [
            {
                "start_at": t.start_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "end_at": t.end_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                **({"reason": t.reason} if t.reason is not None else {}),
            }
            for t in availability.time_off
        ],
        "appointment_minutes": list(availability.appointment_minutes),
        "buffer_minutes": availability.buffer_minutes,
        "minimum_notice_minutes": availability.minimum_notice_minutes,
        "horizon_days": availability.horizon_days,
        "version": availability.version,
    }


def check_window(start: datetime, end: datetime) -> None:
    if start >= end:
        raise InvalidRequest(
            "'from' must be before 'to'.",
            errors=[{"parameter": "to", "in": "query", "message": "must be after 'from'"}],
        )
    if end - start > MAX_WINDOW:
        raise InvalidRequest(
            "A slot search covers at most 31 days.",
            errors=[{"parameter": "to", "in": "query", "message": "at most 31 days after 'from'"}],
        )


# ---- intervals ---------------------------------------------------------------------------


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """``intervals`` minus ``holes``, both merged and sorted."""
    result: list[Interval] = []
    for start, end in intervals:
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                result.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """Local wall time on ``day`` (``minutes`` may reach the next day) as a UTC instant. A wall
    time skipped by a spring-forward change is read with the offset before it (fold=0), i.e.
    the instant the skipped hour would have had; an ambiguous one is its first occurrence."""
    whole_days, rest = divmod(minutes, MINUTES_PER_DAY)
    local = datetime.combine(day + timedelta(days=whole_days), time(rest // 60, rest % 60), tz)
    return local.astimezone(UTC)


@functools.lru_cache(maxsize=8192)
def _day_hours(
    time_zone: str, day: date, spans: tuple[tuple[int, int], ...]
) -> tuple[Interval, ...]:
    """One date's working hours as UTC intervals. Converting wall time is most of placing
    hours on dates, and every search of a doctor asks for the same days again (doctors with
    the same hours and zone share the entries)."""
    tz = ZoneInfo(time_zone)
    return tuple((_local(day, start, tz), _local(day, until, tz)) for start, until in spans)


def working_occurrences(
    availability: Availability, start: datetime, end: datetime
) -> list[Interval]:
    """Each weekly interval placed on its local dates (UTC, sorted, not merged) that meets
    [start, end): the slot grid starts afresh at each."""
    tz = availability.zone
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    by_weekday = availability.by_weekday
    found: list[Interval] = []
    while day <= last:
        spans = by_weekday[day.weekday()]
        if spans:
            for opens, closes in _day_hours(availability.time_zone, day, spans):
                if opens < closes and closes > start and opens < end:
                    found.append((opens, closes))
        day += ONE_DAY
    return sorted(found)


def working_intervals(availability: Availability, start: datetime, end: datetime) -> list[Interval]:
    """Merged working time (UTC) that meets [start, end), before time off."""
    return _merge(working_occurrences(availability, start, end))


def time_off_intervals(
    availability: Availability, start: datetime, end: datetime
) -> list[Interval]:
    tz = availability.zone
    found = [(t.start_at.astimezone(UTC), t.end_at.astimezone(UTC)) for t in availability.time_off]
    found.extend(
        (_local(day, 0, tz), _local(day, MINUTES_PER_DAY, tz)) for day in availability.days_off
    )
    return _merge(hole for hole in found if hole[1] > start and hole[0] < end)


def open_intervals(availability: Availability, start: datetime, end: datetime) -> list[Interval]:
    """Working time minus time off (UTC, merged) that meets [start, end)."""
    return _subtract(
        working_intervals(availability, start, end), time_off_intervals(availability, start, end)
    )


# ---- the two answers ---------------------------------------------------------------------


def bookable_range(availability: Availability, now: datetime) -> Interval:
    """Starts from ``now`` + minimum notice up to (excluding) ``now`` + horizon."""
    return (
        now + timedelta(minutes=availability.minimum_notice_minutes),
        now + timedelta(days=availability.horizon_days),
    )


@dataclass(frozen=True, slots=True)
class SlotQuery:
    window_from: datetime
    window_to: datetime
    length: timedelta
    now: datetime
    busy: Sequence[Busy] = field(default_factory=tuple)


def free_slots(availability: Availability, query: SlotQuery) -> list[Slot]:
    """Free slots starting in [window_from, window_to), in start order. Candidates lie on a
    grid of ``length`` from the start of each working interval (each weekly interval on each
    date, so the grid does not depend on the window); one is kept if it starts within notice
    and horizon and lies wholly in open time (working time, adjacent intervals joined, minus
    time off) minus the appointments widened by the buffer."""
    length = query.length
    return [
        Slot(start, start + length) for start in map(aware_utc, free_starts(availability, query))
    ]


EPOCH, NAIVE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1)


def naive_utc(moment: datetime) -> datetime:
    """An aware instant as a naive UTC datetime (subtraction: ``replace`` is several times
    slower)."""
    return moment - EPOCH + NAIVE_EPOCH


def aware_utc(moment: datetime) -> datetime:
    """A naive UTC datetime as an aware one (``naive_utc`` undone)."""
    return EPOCH + (moment - NAIVE_EPOCH)


def free_starts(availability: Availability, query: SlotQuery) -> list[datetime]:
    """The starts of ``free_slots`` as naive UTC datetimes, sorted and distinct: what a search
    reply spells (``domain.availability.spellings``) without a slot object per start.

    The grid is laid in bulk: for each working occurrence and each free interval it meets, the
    first and the last grid step that fit are found by arithmetic and the steps between are
    added in C (``itertools.accumulate``) instead of testing each candidate in Python."""
    length, buffer = query.length, timedelta(minutes=availability.buffer_minutes)
    earliest, latest = bookable_range(availability, query.now)
    first = max(query.window_from, earliest)
    last = min(query.window_to, latest)  # exclusive bound on starts
    if first >= last:
        return []
    # Open time around the window: a slot starting in it may run past its end.
    span_from, span_to = first - length, last + length
    occurrences = working_occurrences(availability, span_from, span_to)
    holes = time_off_intervals(availability, span_from, span_to)
    taken = _merge(
        ((b.start_at - buffer, b.end_at + buffer) for b in query.busy) if buffer else query.busy
    )
    free = _subtract(_subtract(_merge(occurrences), holes), taken)
    free_ends = [end for _, end in free]
    starts: list[datetime] = []
    for opens, closes in occurrences:
        lower, upper = max(opens, first), min(closes, last)  # starts in [lower, upper)
        index = bisect_right(free_ends, lower)  # the first free interval ending after lower
        if index == len(free) or free[index][0] >= upper:
            continue
        # Steps k of opens + k * length with lower <= start, free_from <= start,
        # start < upper and start + length <= free_to, for each free interval met.
        k_below_upper = -((opens - upper) // length) - 1  # ceiling division, less one
        grid_from = naive_utc(opens)
        while index < len(free) and free[index][0] < upper:
            free_from, free_to = free[index]
            index += 1
            k_first = -((opens - max(lower, free_from)) // length)
            k_last = min(k_below_upper, (free_to - opens) // length - 1)
            if k_last >= k_first:
                starts.extend(
                    itertools.accumulate(
                        itertools.repeat(length, k_last - k_first),
                        operator.add,
                        initial=grid_from + k_first * length,
                    )
                )
    # Occurrences come sorted; unless two overlap (weekly intervals may), their grids' starts
    # come in order and distinct.
    if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(occurrences)):
        return sorted(set(starts))
    return starts


def violation(
    availability: Availability,
    start: datetime,
    end: datetime,
    now: datetime,
    busy: Sequence[Busy] = (),
) -> Rule | None:
    """The first rule that refuses booking [start, end), or None."""
    earliest, latest = bookable_range(availability, now)
    if start < earliest:
        return Rule.MINIMUM_NOTICE
    if start >= latest:
        return Rule.HORIZON
    if any(s < end and start < e for s, e in time_off_intervals(availability, start, end)):
        return Rule.TIME_OFF
    if not any(s <= start and end <= e for s, e in working_intervals(availability, start, end)):
        return Rule.OUTSIDE_HOURS
    buffer = timedelta(minutes=availability.buffer_minutes)
    if any(b.start_at < end and start < b.end_at for b in busy):
        return Rule.OVERLAP
    if any(b.start_at - buffer < end and start < b.end_at + buffer for b in busy):
        return Rule.BUFFER
    return None


_EXPLAINED = {
    Rule.MINIMUM_NOTICE: "The doctor takes bookings at least {notice} minutes ahead.",
    Rule.HORIZON: "The doctor takes bookings at most {horizon} days ahead.",
    Rule.TIME_OFF: "The doctor is off at that time.",
    Rule.OUTSIDE_HOURS: "That time is outside the doctor's working hours ({zone}).",
    Rule.BUFFER: "The doctor keeps {buffer} minutes free around each appointment.",
}


def refusal(rule: Rule, availability: Availability) -> UnprocessableRequest:
    """The 422 for a rule (its own problem type, see ``service.problems``)."""
    detail = _EXPLAINED[rule].format(
        notice=availability.minimum_notice_minutes,
        horizon=availability.horizon_days,
        zone=availability.time_zone,
        buffer=availability.buffer_minutes,
    )
    return UnprocessableRequest(
        detail, availability_rule=rule.value, time_zone=availability.time_zone
    )


def outside_availability(availability: Availability, start: datetime, end: datetime) -> bool:
    """An existing appointment the current hours or time off no longer cover."""
    if any(s < end and start < e for s, e in time_off_intervals(availability, start, end)):
        return True
    return not any(s <= start and end <= e for s, e in working_intervals(availability, start, end))
