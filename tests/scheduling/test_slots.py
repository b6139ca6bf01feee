"""Free slots and the booking rules, as pure functions: DST both ways, zones, midnight, the
window's edges, and property tests holding ``free_slots`` against ``violation``."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from unittest import mock
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import availability as availability_use_cases
from domain import scheduling
from domain.availability import OFFSET_SPAN, Calendar, Doctor, SlotSearch, spellings
from domain.errors import InvalidRequest
from domain.model import utc_iso
from domain.scheduling import Availability, Busy, Rule, SlotQuery, TimeOff, WeeklyInterval

BERLIN, NEW_YORK, TOKYO = (
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Tokyo"),
)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)  # "now": the tests look ahead of it
HALF_HOUR = timedelta(minutes=30)


def every_day(start: int, end: int, zone: str, **extra: object) -> Availability:
    hours = tuple(WeeklyInterval(day, start * 60, end * 60) for day in range(7))
    return Availability(time_zone=zone, weekly_hours=hours, horizon_days=730, **extra)  # type: ignore[arg-type]


def slots(
    availability: Availability, start: datetime, end: datetime, **query: object
) -> list[scheduling.Slot]:
    length = query.pop("length", HALF_HOUR)
    now = query.pop("now", LONG_AGO)
    busy = query.pop("busy", ())
    return scheduling.free_slots(
        availability,
        SlotQuery(start, end, length, now, busy),  # type: ignore[arg-type]
    )


def local_starts(found: list[scheduling.Slot], zone: ZoneInfo) -> list[str]:
    return [slot.start_at.astimezone(zone).strftime("%H:%M%z") for slot in found]


# ---- daylight saving time -------------------------------------------------------------------


def test_berlin_spring_forward_skips_the_missing_hour() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST. Hours 00:00-06:00 last five real hours.
    night = every_day(0, 6, "Europe/Berlin")
    day = datetime(2026, 3, 29, tzinfo=BERLIN)
    found = slots(night, day, day + timedelta(hours=12))
    assert len(found) == 10
    assert local_starts(found, BERLIN)[3:6] == ["01:30+0100", "03:00+0200", "03:30+0200"]
    assert all(b.start_at - a.start_at == HALF_HOUR for a, b in itertools.pairwise(found[:4]))


def test_berlin_fall_back_offers_the_repeated_hour_once_for_each_real_half_hour() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET. 00:00-06:00 lasts seven real hours.
    night = every_day(0, 6, "Europe/Berlin")
    day = datetime(2026, 10, 25, tzinfo=BERLIN)
    found = slots(night, day, day + timedelta(hours=12))
    assert len(found) == 14
    assert local_starts(found, BERLIN)[4:8] == [
        "02:00+0200",
        "02:30+0200",
        "02:00+0100",
        "02:30+0100",
    ]
    assert len({slot.start_at for slot in found}) == 14


def test_new_york_spring_forward_and_fall_back() -> None:
    night = every_day(0, 6, "America/New_York")
    spring = datetime(2026, 3, 8, tzinfo=NEW_YORK)  # 02:00 EST -> 03:00 EDT
    fall = datetime(2026, 11, 1, tzinfo=NEW_YORK)  # 02:00 EDT -> 01:00 EST
    spring_slots = slots(night, spring, spring + timedelta(hours=12))
    fall_slots = slots(night, fall, fall + timedelta(hours=12))
    assert len(spring_slots) == 10
    assert local_starts(spring_slots, NEW_YORK)[3:5] == ["01:30-0500", "03:00-0400"]
    assert len(fall_slots) == 14
    assert local_starts(fall_slots, NEW_YORK)[2:6] == [
        "01:00-0400",
        "01:30-0400",
        "01:00-0500",
        "01:30-0500",
    ]


def test_office_hours_keep_their_wall_clock_across_the_change() -> None:
    office = every_day(9, 17, "Europe/Berlin")
    before = slots(office, datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC))
    after = slots(office, datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert before[0].start_at == datetime(2026, 3, 28, 8, tzinfo=UTC)  # 09:00 CET
    assert after[0].start_at == datetime(2026, 3, 30, 7, tzinfo=UTC)  # 09:00 CEST
    assert len(before) == len(after) == 16


# ---- zones, midnight, window edges ----------------------------------------------------------


def test_a_doctor_in_berlin_seen_from_new_york() -> None:
    office = every_day(9, 10, "Europe/Berlin")
    # A New York Monday (2026-06-01) from midnight to midnight: Berlin's 09:00 is 03:00 there.
    start = datetime(2026, 6, 1, tzinfo=NEW_YORK)
    found = slots(office, start, start + timedelta(days=1))
    assert local_starts(found, NEW_YORK) == ["03:00-0400", "03:30-0400"]
    assert local_starts(found, BERLIN) == ["09:00+0200", "09:30+0200"]


def test_a_day_in_tokyo_meets_two_berlin_days() -> None:
    office = every_day(9, 10, "Europe/Berlin")
    start = datetime(2026, 6, 2, tzinfo=TOKYO)  # Tokyo is 7 hours ahead of Berlin in summer
    found = slots(office, start, start + timedelta(days=1))
    # Berlin 09:00 on the 1st is 16:00 in Tokyo on the 1st (outside); on the 2nd it is 16:00.
    assert [slot.start_at.astimezone(TOKYO).isoformat() for slot in found] == [
        "2026-06-02T16:00:00+09:00",
        "2026-06-02T16:30:00+09:00",
    ]


def test_an_interval_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    night_shift = Availability(
        time_zone="Europe/Berlin",
        weekly_hours=(WeeklyInterval(4, 22 * 60, 2 * 60),),  # Friday 22:00 to Saturday 02:00
        horizon_days=730,
    )
    friday = datetime(2026, 6, 5, tzinfo=BERLIN)
    found = slots(night_shift, friday, friday + timedelta(days=2))
    assert [s.start_at.astimezone(BERLIN).strftime("%a %H:%M") for s in found] == [
        "Fri 22:00", "Fri 22:30", "Fri 23:00", "Fri 23:30",
        "Sat 00:00", "Sat 00:30", "Sat 01:00", "Sat 01:30",
    ]  # fmt: skip
    # A window starting at Saturday midnight still sees the end of Friday's shift.
    saturday = friday + timedelta(days=1)
    assert len(slots(night_shift, saturday, saturday + timedelta(days=1))) == 4
    assert (
        scheduling.violation(
            night_shift,
            friday + timedelta(hours=23, minutes=30),
            friday + timedelta(hours=24, minutes=30),
            LONG_AGO,
        )
        is None
    )


def test_the_last_day_of_the_window_and_its_last_slot() -> None:
    office = every_day(9, 17, "UTC")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    found = slots(office, start, start + timedelta(days=31))
    assert len(found) == 31 * 16
    assert found[-1].start_at == datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    # The bound is on starts and exclusive: a slot starting at `to` is not listed.
    cut = slots(office, start, datetime(2026, 6, 1, 16, 30, tzinfo=UTC))
    assert cut[-1].start_at == datetime(2026, 6, 1, 16, tzinfo=UTC)


def test_a_window_over_31_days_is_refused() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    scheduling.check_window(start, start + timedelta(days=31))
    with pytest.raises(InvalidRequest):
        scheduling.check_window(start, start + timedelta(days=31, seconds=1))
    with pytest.raises(InvalidRequest):
        scheduling.check_window(start, start)


# ---- the rules ------------------------------------------------------------------------------


MONDAY = datetime(2026, 6, 1, tzinfo=UTC)


def test_each_rule_refuses_its_case() -> None:
    rules = every_day(
        9,
        17,
        "UTC",
        buffer_minutes=15,
        minimum_notice_minutes=120,
        days_off=(date(2026, 6, 3),),
        time_off=(TimeOff(MONDAY + timedelta(hours=12), MONDAY + timedelta(hours=13)),),
    )
    rules = dataclasses.replace(rules, horizon_days=10)
    now = MONDAY + timedelta(hours=8)
    busy = [Busy(MONDAY + timedelta(hours=14), MONDAY + timedelta(hours=15))]

    def rule(hour: float, minutes: int = 30) -> Rule | None:
        start = MONDAY + timedelta(hours=hour)
        return scheduling.violation(rules, start, start + timedelta(minutes=minutes), now, busy)

    assert rule(9.5) == Rule.MINIMUM_NOTICE
    assert rule(10) is None
    assert rule(24 * 10 + 10) == Rule.HORIZON
    assert rule(12.5) == Rule.TIME_OFF
    assert rule(48 + 10) == Rule.TIME_OFF  # a day off
    assert rule(16.75) == Rule.OUTSIDE_HOURS  # runs past 17:00
    assert rule(24 * 6 + 3) == Rule.OUTSIDE_HOURS  # 03:00 on Sunday
    assert rule(13.5, 20) == Rule.BUFFER  # ends 13:50, 10 minutes before 14:00
    assert rule(14.5) == Rule.OVERLAP
    assert rule(15.25) is None  # 15 minutes after


def test_adjacent_intervals_join_and_overlapping_ones_merge() -> None:
    split = Availability(
        time_zone="UTC",
        weekly_hours=(
            WeeklyInterval(0, 9 * 60, 12 * 60),
            WeeklyInterval(0, 12 * 60, 13 * 60),
            WeeklyInterval(0, 9 * 60, 10 * 60),
        ),
        horizon_days=730,
    )
    assert (
        scheduling.violation(
            split, MONDAY + timedelta(hours=11.5), MONDAY + timedelta(hours=12.5), LONG_AGO
        )
        is None
    )
    assert len(slots(split, MONDAY, MONDAY + timedelta(days=1))) == 8


def test_what_a_client_sends_is_checked() -> None:
    body: dict[str, object] = {
        "time_zone": "Europe/Berlin",
        "weekly_hours": [{"day": "monday", "start": "22:00", "end": "02:00"}],
    }
    parsed = scheduling.from_body(body, version=3)
    assert parsed.weekly_hours == (WeeklyInterval(0, 22 * 60, 2 * 60),)
    assert scheduling.from_body(scheduling.to_json(parsed), version=3) == parsed
    with pytest.raises(InvalidRequest):
        scheduling.from_body({**body, "time_zone": "Mars/Olympus"}, version=1)
    with pytest.raises(InvalidRequest):
        scheduling.from_body(
            {**body, "weekly_hours": [{"day": "monday", "start": "09:00", "end": "09:00"}]},
            version=1,
        )


# ---- properties -----------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
intervals = st.builds(
    WeeklyInterval,
    day=st.integers(0, 6),
    start=st.integers(0, 47).map(lambda half_hours: half_hours * 30),
    end=st.integers(1, 48).map(lambda half_hours: half_hours * 30),
).filter(lambda i: i.start != i.end)
availabilities = st.builds(
    Availability,
    time_zone=st.sampled_from(ZONES),
    weekly_hours=st.lists(intervals, min_size=1, max_size=6).map(tuple),
    days_off=st.lists(st.dates(date(2026, 3, 1), date(2026, 4, 15)), max_size=2).map(tuple),
    appointment_minutes=st.just((30,)),
    buffer_minutes=st.sampled_from([0, 10, 30]),
    minimum_notice_minutes=st.sampled_from([0, 90]),
    horizon_days=st.sampled_from([5, 60]),
)
# Windows around the 2026 spring changes in Europe and North America.
window_starts = st.datetimes(
    datetime(2026, 3, 5), datetime(2026, 4, 5), timezones=st.just(UTC)
).map(lambda moment: moment.replace(second=0, microsecond=0))
lengths = st.sampled_from([timedelta(minutes=m) for m in (15, 25, 30, 60)])


def busy_list(start: datetime) -> st.SearchStrategy[list[Busy]]:
    offsets = st.integers(0, 6 * 24 * 4).map(
        lambda quarters: start + timedelta(minutes=15 * quarters)
    )
    return st.lists(
        st.builds(
            lambda s, m: Busy(s, s + timedelta(minutes=m)),
            offsets,
            st.sampled_from([15, 30, 45, 90]),
        ),
        max_size=6,
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Availability, SlotQuery]:
    availability = draw(availabilities)
    start = draw(window_starts)
    days = draw(st.integers(1, 6))
    now = start - timedelta(minutes=draw(st.integers(-600, 600)))
    query = SlotQuery(
        start, start + timedelta(days=days), draw(lengths), now, draw(busy_list(start))
    )
    return availability, query


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_every_listed_slot_can_be_booked(scenario: tuple[Availability, SlotQuery]) -> None:
    availability, query = scenario
    found = scheduling.free_slots(availability, query)
    assert found == sorted(found, key=lambda slot: slot.start_at)
    for slot in found:
        assert query.window_from <= slot.start_at < query.window_to
        assert slot.end_at - slot.start_at == query.length
        assert (
            scheduling.violation(availability, slot.start_at, slot.end_at, query.now, query.busy)
            is None
        )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_bookable_time_on_the_grid_is_missing(scenario: tuple[Availability, SlotQuery]) -> None:
    availability, query = scenario
    listed = {slot.start_at for slot in scheduling.free_slots(availability, query)}
    occurrences = scheduling.working_occurrences(
        availability, query.window_from - query.length, query.window_to + query.length
    )
    for opens, closes in occurrences:
        start = opens
        while start < closes:
            if query.window_from <= start < query.window_to:
                bookable = (
                    scheduling.violation(
                        availability, start, start + query.length, query.now, query.busy
                    )
                    is None
                )
                assert bookable == (start in listed), (start, bookable)
            start += query.length


# ---- spelling slots in the zone asked for -----------------------------------------------------

ZONES = sorted(zoneinfo.available_timezones())


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    minutes=st.lists(
        st.integers(min_value=0, max_value=60 * 24 * 366 * 3)
        | st.sampled_from([0, 30, 60, 90]),  # contiguous slots too: an end is the next start
        max_size=20,
    ),
    lengths=st.lists(st.sampled_from([15, 30, 45, 60, 24 * 60]), min_size=1),
    seconds=st.sampled_from([0, 0, 59]) | st.integers(0, 86399),
)
def test_spellings_are_isoformat_in_every_zone(
    zone: str, minutes: list[int], lengths: list[int], seconds: int
) -> None:
    """The reply's text (written by orjson in bulk, a zone conversion per span of one offset)
    is exactly what ``isoformat`` writes: ``utc_iso`` for ``start_at``/``end_at``, the zone's
    offset for ``local_*``, zero offsets as ``+00:00``, DST changes included, in every zone
    the service accepts (three years from now, where slots lie), starts in order, ends of
    several lengths (a specialty's doctors offer different ones) in any order."""
    tz = ZoneInfo(zone)
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(seconds=seconds)
    starts = sorted(now + timedelta(minutes=m) for m in minutes)
    ends = [start + timedelta(minutes=n) for start, n in zip(starts, itertools.cycle(lengths))]
    naive = [scheduling.naive_utc(moment) for moment in (*starts, *ends)]
    spelled = spellings(naive[: len(starts)], naive[len(starts) :], tz)
    assert spelled.start_at == [utc_iso(start) for start in starts]
    assert spelled.end_at == [utc_iso(end) for end in ends]
    assert spelled.local_start_at == [start.astimezone(tz).isoformat() for start in starts]
    assert spelled.local_end_at == [end.astimezone(tz).isoformat() for end in ends]


def test_spellings_of_zero_offsets_and_both_dst_changes() -> None:
    cases = {
        ("UTC", datetime(2027, 1, 4, 9, tzinfo=UTC)): "2027-01-04T09:00:00+00:00",
        ("Europe/London", datetime(2027, 1, 4, 9, tzinfo=UTC)): "2027-01-04T09:00:00+00:00",
        ("Europe/Berlin", datetime(2027, 3, 28, 0, 30, tzinfo=UTC)): "2027-03-28T01:30:00+01:00",
        ("Europe/Berlin", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)): "2027-03-28T03:00:00+02:00",
        ("America/New_York", datetime(2027, 11, 7, 5, 30, tzinfo=UTC)): "2027-11-07T01:30:00-04:00",
        ("America/New_York", datetime(2027, 11, 7, 6, 30, tzinfo=UTC)): "2027-11-07T01:30:00-05:00",
        ("Asia/Kolkata", datetime(2027, 1, 4, 9, tzinfo=UTC)): "2027-01-04T14:30:00+05:30",
    }
    for (zone, instant), expected in cases.items():
        start = scheduling.naive_utc(instant)
        assert spellings([start], [start + HALF_HOUR], ZoneInfo(zone)).local_start_at == [expected]
    # A day of half hours across each change: one conversion per offset span, every text right.
    for zone, day in (
        ("Europe/Berlin", datetime(2027, 3, 27, 12)),
        ("America/New_York", datetime(2027, 11, 6, 12)),
    ):
        tz = ZoneInfo(zone)
        starts = [day + HALF_HOUR * n for n in range(96)]
        spelled = spellings(starts, [start + HALF_HOUR for start in starts], tz)
        assert spelled.local_start_at == [
            scheduling.aware_utc(start).astimezone(tz).isoformat() for start in starts
        ]


@pytest.mark.slow
def test_no_zone_changes_its_offset_twice_within_the_offset_span() -> None:
    """What spelling in bulk rests on (``domain.availability.OFFSET_SPAN``): in every zone the
    service accepts, over the next three years (slots lie within the two-year horizon and a
    31-day window), two offset changes are never closer than the span. Offsets are sampled
    every quarter of the span, and each change found is located to the minute."""
    step = OFFSET_SPAN / 4
    begin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    samples = int(timedelta(days=3 * 366) / step)
    for zone in ZONES:
        tz = ZoneInfo(zone)
        changes: list[datetime] = []
        before = begin.astimezone(tz).utcoffset()
        for n in range(1, samples + 1):
            moment = begin + step * n
            offset = moment.astimezone(tz).utcoffset()
            if offset != before:
                low, high = moment - step, moment
                while high - low > timedelta(minutes=1):
                    middle = low + (high - low) / 2
                    if middle.astimezone(tz).utcoffset() == before:
                        low = middle
                    else:
                        high = middle
                changes.append(high)
                before = offset
        for earlier, later in itertools.pairwise(changes):
            assert later - earlier > OFFSET_SPAN, (zone, earlier, later)


# ---- a specialty's search: each doctor's slots merged, cut at the limit -----------------------


class _Calendars:
    def __init__(self, calendars: list[Calendar]) -> None:
        self._calendars = calendars

    async def calendars(self, **_: object) -> list[Calendar]:
        return self._calendars


class _Unit:
    def __init__(self, calendars: list[Calendar]) -> None:
        self.availability = _Calendars(calendars)


@settings(max_examples=150, deadline=None)
@given(
    doctors=st.lists(st.tuples(availabilities, st.integers(0, 8)), min_size=1, max_size=6),
    start=window_starts,
    limit=st.integers(1, 60),
)
def test_specialty_search_is_every_doctors_slots_sorted_and_cut(
    doctors: list[tuple[Availability, int]], start: datetime, limit: int
) -> None:
    """The merged search returns what sorting every doctor's free slots by start, then by the
    doctors' order, and cutting at ``limit`` returns; ``truncated`` iff there were more."""
    search = SlotSearch(start, start + timedelta(days=2), time_zone="Europe/Berlin")
    calendars = [
        Calendar(
            Doctor(UUID(int=n), f"Doctor {n}"),
            dataclasses.replace(availability, appointment_minutes=(30,), minimum_notice_minutes=0),
            [
                Busy(start + timedelta(hours=3 * k), start + timedelta(hours=3 * k, minutes=45))
                for k in range(busy)
            ],
        )
        for n, (availability, busy) in enumerate(doctors)
    ]
    now = start - timedelta(hours=12)  # the windows lie in 2026's spring, "now" before them
    with mock.patch.object(availability_use_cases, "_now", return_value=now):
        reply = asyncio.run(
            availability_use_cases._specialty_slots(_Unit(calendars), "any", search, limit)  # type: ignore[arg-type]
        )
    everything = sorted(
        (slot.start_at, order, slot)
        for order, calendar in enumerate(calendars)
        for slot in scheduling.free_slots(
            calendar.availability,
            SlotQuery(search.window_from, search.window_to, HALF_HOUR, now, calendar.busy),
        )
    )
    assert [(item["doctor_id"], item["start_at"], item["end_at"]) for item in reply["items"]] == [
        (calendars[order].doctor.id, utc_iso(slot.start_at), utc_iso(slot.end_at))
        for _, order, slot in everything[:limit]
    ]
    assert reply["truncated"] is (len(everything) > limit)
