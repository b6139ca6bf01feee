"""Availability and slots over HTTP: set hours, search, book a returned slot, refusals, the
admin override, the appointments a changed schedule leaves outside, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from domain.model import Role
from tests.conftest import MakeUser, assert_problem

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
BERLIN_OFFICE: dict[str, Any] = {
    "time_zone": "Europe/Berlin",
    "weekly_hours": [{"day": day, "start": "09:00", "end": "17:00"} for day in DAYS],
    "appointment_minutes": [30, 60],
    "buffer_minutes": 10,
    "minimum_notice_minutes": 60,
    "horizon_days": 60,
}


def next_monday(weeks: int = 1) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 * weeks - today.weekday())


async def set_hours(
    client: httpx.AsyncClient, who: Any, doctor_id: str, body: dict[str, Any], etag: str = '"v1"'
) -> httpx.Response:
    return await client.put(
        f"/doctors/{doctor_id}/availability",
        json=body,
        headers={**who.headers, "If-Match": etag},
    )


async def test_a_doctor_sets_hours_a_patient_books_a_returned_slot(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    patient = await make_user(Role.PATIENT)
    default = await client.get(f"/doctors/{doctor.id}/availability", headers=patient.headers)
    assert default.status_code == 200
    assert default.headers["etag"] == '"v1"'
    assert default.json()["time_zone"] == "UTC"

    saved = await set_hours(client, doctor, doctor.id, BERLIN_OFFICE)
    assert saved.status_code == 200, saved.text
    assert saved.headers["etag"] == '"v2"'
    assert saved.json()["weekly_hours"][0] == {"day": "monday", "start": "09:00", "end": "17:00"}

    monday = next_monday()
    week = await client.get(
        f"/doctors/{doctor.id}/slots",
        params={
            "from": monday.isoformat(),
            "to": (monday + timedelta(days=7)).isoformat(),
            "time_zone": "America/New_York",
        },
        headers=patient.headers,
    )
    assert week.status_code == 200, week.text
    items = week.json()["items"]
    assert len(items) == 5 * 16
    assert items[0]["local_start_at"].endswith(("03:00:00-04:00", "03:00:00-05:00"))
    chosen = items[3]
    booked = await client.post(
        "/appointments",
        json={"doctor_id": doctor.id, "start_at": chosen["start_at"], "end_at": chosen["end_at"]},
        headers=patient.headers,
    )
    assert booked.status_code == 201, booked.text
    again = await client.get(
        f"/doctors/{doctor.id}/slots",
        params={"from": monday.isoformat(), "to": (monday + timedelta(days=1)).isoformat()},
        headers=patient.headers,
    )
    starts = [item["start_at"] for item in again.json()["items"]]
    # The booked slot and, with a 10-minute buffer, its neighbours are gone.
    assert chosen["start_at"] not in starts
    assert items[2]["start_at"] not in starts
    assert items[4]["start_at"] not in starts
    assert len(starts) == 16 - 3


async def test_sunday_at_three_and_the_other_rules_are_422_with_their_type(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    patient = await make_user(Role.PATIENT)
    assert (await set_hours(client, doctor, doctor.id, BERLIN_OFFICE)).status_code == 200
    monday = next_monday()

    async def book(start: datetime, minutes: int = 30) -> httpx.Response:
        return await client.post(
            "/appointments",
            json={
                "doctor_id": doctor.id,
                "start_at": start.isoformat(),
                "end_at": (start + timedelta(minutes=minutes)).isoformat(),
            },
            headers=patient.headers,
        )

    sunday_3am = monday + timedelta(days=6, hours=2)  # 03:00 in Berlin (UTC+1 or +2)
    cases = {
        "outside-working-hours": sunday_3am,
        "beyond-horizon": monday + timedelta(days=70, hours=9),
        "inside-minimum-notice": datetime.now(UTC) + timedelta(minutes=20),
    }
    for kind, start in cases.items():
        body = assert_problem(await book(start), 422)
        assert body["type"] == f"/docs/problems/{kind}", (kind, body)
        assert body["availability_rule"] == kind
        assert body["time_zone"] == "Europe/Berlin"
    first = await client.get(
        f"/doctors/{doctor.id}/slots",
        params={"from": monday.isoformat(), "to": (monday + timedelta(days=1)).isoformat()},
        headers=patient.headers,
    )
    slot = first.json()["items"][0]
    start = datetime.fromisoformat(slot["start_at"])
    assert (await book(start)).status_code == 201
    buffer = assert_problem(await book(start + timedelta(minutes=35)), 422)
    assert buffer["type"] == "/docs/problems/inside-buffer"
    overlap = assert_problem(await book(start + timedelta(minutes=15)), 409)
    assert overlap["type"] == "/docs/problems/slot-taken"

    off = {**BERLIN_OFFICE, "days_off": [(monday + timedelta(days=1)).date().isoformat()]}
    assert (await set_hours(client, doctor, doctor.id, off, '"v2"')).status_code == 200
    day_off = assert_problem(await book(monday + timedelta(days=1, hours=10)), 422)
    assert day_off["type"] == "/docs/problems/in-time-off"


async def test_an_admin_overrides_audited_others_may_not(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    patient = await make_user(Role.PATIENT)
    admin = await make_user(Role.ADMIN)
    assert (await set_hours(client, doctor, doctor.id, BERLIN_OFFICE)).status_code == 200
    sunday_3am = next_monday() + timedelta(days=6, hours=2)
    body = {
        "doctor_id": doctor.id,
        "patient_id": patient.id,
        "start_at": sunday_3am.isoformat(),
        "end_at": (sunday_3am + timedelta(minutes=30)).isoformat(),
    }
    refused = await client.post(
        "/appointments",
        params={"override_availability": "true"},
        json=body,
        headers=patient.headers,
    )
    assert_problem(refused, 403)
    assert_problem(await client.post("/appointments", json=body, headers=admin.headers), 422)
    booked = await client.post(
        "/appointments", params={"override_availability": "true"}, json=body, headers=admin.headers
    )
    assert booked.status_code == 201, booked.text
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT actor_id::text, resource_id, outcome FROM audit_events WHERE action = %s",
            ("appointment.override.outside-working-hours",),
        ).fetchall()
    assert rows == [(admin.id, booked.json()["id"], 201)]


async def test_a_changed_schedule_keeps_appointments_and_lists_those_now_outside(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    patient = await make_user(Role.PATIENT)
    assert (await set_hours(client, doctor, doctor.id, BERLIN_OFFICE)).status_code == 200
    monday = next_monday()
    start = monday + timedelta(hours=14)  # 15:00 or 16:00 in Berlin
    booked = await client.post(
        "/appointments",
        json={
            "doctor_id": doctor.id,
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(minutes=30)).isoformat(),
        },
        headers=patient.headers,
    )
    assert booked.status_code == 201, booked.text
    mornings = {
        **BERLIN_OFFICE,
        "weekly_hours": [{"day": d, "start": "08:00", "end": "12:00"} for d in DAYS],
    }
    assert (await set_hours(client, doctor, doctor.id, mornings, '"v2"')).status_code == 200
    outside = await client.get(f"/doctors/{doctor.id}/availability/outside", headers=doctor.headers)
    assert outside.status_code == 200, outside.text
    assert [item["id"] for item in outside.json()["items"]] == [booked.json()["id"]]
    still = await client.get(f"/appointments/{booked.json()['id']}", headers=patient.headers)
    assert still.json()["status"] == "booked"
    assert_problem(
        await client.get(f"/doctors/{doctor.id}/availability/outside", headers=patient.headers), 403
    )


async def test_availability_is_versioned_and_only_the_doctor_or_an_admin_may_change_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    other = await make_user(Role.DOCTOR)
    admin = await make_user(Role.ADMIN)
    assert_problem(await set_hours(client, other, doctor.id, BERLIN_OFFICE), 403)
    no_match = await client.put(
        f"/doctors/{doctor.id}/availability", json=BERLIN_OFFICE, headers=doctor.headers
    )
    assert_problem(no_match, 428)
    assert (await set_hours(client, admin, doctor.id, BERLIN_OFFICE)).status_code == 200
    stale = assert_problem(await set_hours(client, doctor, doctor.id, BERLIN_OFFICE), 412)
    assert stale["current_version"] == 2
    unknown_zone = {**BERLIN_OFFICE, "time_zone": "Mars/Olympus"}
    assert_problem(await set_hours(client, doctor, doctor.id, unknown_zone, '"v2"'), 400)
    assert_problem(await set_hours(client, admin, patient_id := admin.id, BERLIN_OFFICE), 404)
    assert patient_id


async def test_specialty_search_orders_by_time_then_doctor(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    early = await make_user(
        Role.DOCTOR, full_name="B Early", specialty="Neurology", availability=None
    )
    late = await make_user(
        Role.DOCTOR, full_name="A Late", specialty="Neurology", availability=None
    )
    await make_user(Role.DOCTOR, full_name="C Other", specialty="Dermatology")
    patient = await make_user(Role.PATIENT)
    hours = {**BERLIN_OFFICE, "time_zone": "UTC", "buffer_minutes": 0, "minimum_notice_minutes": 0}
    assert (
        await set_hours(
            client,
            early,
            early.id,
            {**hours, "weekly_hours": [{"day": "monday", "start": "09:00", "end": "10:00"}]},
        )
    ).status_code == 200
    assert (
        await set_hours(
            client,
            late,
            late.id,
            {**hours, "weekly_hours": [{"day": "monday", "start": "09:30", "end": "10:30"}]},
        )
    ).status_code == 200
    monday = next_monday()
    reply = await client.get(
        "/slots",
        params={
            "specialty": "Neurology",
            "from": monday.isoformat(),
            "to": (monday + timedelta(days=1)).isoformat(),
            "limit": 3,
        },
        headers=patient.headers,
    )
    assert reply.status_code == 200, reply.text
    page = reply.json()
    assert [(item["doctor_name"], item["start_at"][11:16]) for item in page["items"]] == [
        ("B Early", "09:00"),
        ("A Late", "09:30"),
        ("B Early", "09:30"),
    ]
    assert page["truncated"] is True
    too_long = await client.get(
        "/slots",
        params={
            "specialty": "Neurology",
            "from": monday.isoformat(),
            "to": (monday + timedelta(days=32)).isoformat(),
        },
        headers=patient.headers,
    )
    assert_problem(too_long, 400)


async def test_a_change_of_time_meets_the_same_rules_and_an_admin_may_override(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    doctor = await make_user(Role.DOCTOR, availability=None)
    patient = await make_user(Role.PATIENT)
    admin = await make_user(Role.ADMIN)
    assert (await set_hours(client, doctor, doctor.id, BERLIN_OFFICE)).status_code == 200
    monday = next_monday()
    start = monday + timedelta(hours=10)
    booked = await client.post(
        "/appointments",
        json={
            "doctor_id": doctor.id,
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(minutes=30)).isoformat(),
        },
        headers=patient.headers,
    )
    assert booked.status_code == 201, booked.text
    path = f"/appointments/{booked.json()['id']}"
    sunday_3am = monday + timedelta(days=6, hours=2)
    move = {
        "start_at": sunday_3am.isoformat(),
        "end_at": (sunday_3am + timedelta(minutes=30)).isoformat(),
    }
    refused = await client.put(path, json=move, headers={**patient.headers, "If-Match": '"v1"'})
    assert assert_problem(refused, 422)["type"] == "/docs/problems/outside-working-hours"
    # Moving by a quarter of an hour within the hours is fine: its own old slot does not count.
    nudge = {
        "start_at": (start + timedelta(minutes=15)).isoformat(),
        "end_at": (start + timedelta(minutes=45)).isoformat(),
    }
    nudged = await client.put(path, json=nudge, headers={**patient.headers, "If-Match": '"v1"'})
    assert nudged.status_code == 200, nudged.text
    overridden = await client.put(
        path,
        params={"override_availability": "true"},
        json=move,
        headers={**admin.headers, "If-Match": '"v2"'},
    )
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["start_at"] == sunday_3am.strftime("%Y-%m-%dT%H:%M:%SZ")
    with psycopg.connect(database_url) as conn:
        actions = conn.execute(
            "SELECT action FROM audit_events WHERE resource_id = %s ORDER BY id",
            (booked.json()["id"],),
        ).fetchall()
    assert ("appointment.override.outside-working-hours",) in actions
