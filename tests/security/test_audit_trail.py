"""The audit trail answers who touched whose data, and PostgreSQL keeps it append-only.

(HIPAA 164.312(b) audit controls; OWASP API Top 10 has no category of its own for logging.)
That only admins read it is in ``test_api5_function_level_authorization``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from domain.model import Role, utc_iso
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem
from tests.security.conftest import sign_in


async def test_an_admin_sees_who_read_a_patients_appointment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    await client.get(url, headers={**doctor.headers, "User-Agent": "clinic-app/1.0"})
    events = await client.get(
        "/audit-events",
        params={"patient_id": patient.id, "action": "appointment.read"},
        headers=admin.headers,
    )
    assert events.status_code == 200, events.text
    [event] = events.json()["items"]
    assert event["actor_id"] == doctor.id
    assert event["actor_role"] == "doctor"
    assert event["user_agent"] == "clinic-app/1.0"
    assert event["outcome"] == 200
    assert event["resource_id"] == url.rsplit("/", 1)[1]


async def test_refused_reads_and_failed_sign_ins_are_recorded(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, snoop, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    assert_problem(await client.get(url, headers=snoop.headers), 404)
    await client.post("/auth/login", json={"email": patient.email, "password": "not it!!"})
    refused = await client.get(
        "/audit-events",
        params={"actor_id": snoop.id, "resource_type": "appointment"},
        headers=admin.headers,
    )
    [event] = refused.json()["items"]
    assert (event["action"], event["outcome"]) == ("appointment.read", 404)
    assert event["patient_ids"] == [patient.id]
    failed = await client.get(
        "/audit-events",
        params={"action": "auth.login", "resource_id": patient.email},
        headers=admin.headers,
    )
    outcomes = sorted(item["outcome"] for item in failed.json()["items"])
    assert outcomes == [200, 401]  # make_user's sign-in, then the failure


async def test_the_database_refuses_to_change_or_delete_audit_events(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    await make_user()  # its sign-in leaves an event
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_events SET outcome = 200")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_events")


async def test_an_admin_sees_who_read_patient_xs_appointments_yesterday(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = midnight - timedelta(days=1)
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    url = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    await client.get(url, headers=doctor.headers)  # today's read, outside the window
    with psycopg.connect(database_url) as conn:  # appending is allowed; the past is not editable
        conn.execute(
            "INSERT INTO audit_events (at, actor_id, actor_role, action, resource_type, "
            "resource_id, patient_ids, outcome) VALUES (%s, %s, 'doctor', 'appointment.read', "
            "'appointment', %s, ARRAY[%s]::uuid[], 200)",
            (yesterday + timedelta(hours=10), doctor.id, url.rsplit("/", 1)[1], patient.id),
        )
    events = await client.get(
        "/audit-events",
        params={
            "patient_id": patient.id,
            "action": "appointment.read",
            "from": utc_iso(yesterday),
            "to": utc_iso(midnight),
        },
        headers=admin.headers,
    )
    [event] = events.json()["items"]
    assert (event["actor_id"], event["at"]) == (doctor.id, utc_iso(yesterday + timedelta(hours=10)))


async def test_reading_the_trail_is_itself_recorded(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    await client.get("/audit-events", params={"action": "auth.login"}, headers=admin.headers)
    seen = await client.get(
        "/audit-events", params={"action": "audit.search"}, headers=admin.headers
    )
    assert [event["actor_id"] for event in seen.json()["items"]] == [admin.id]


async def test_the_trail_never_holds_passwords_or_tokens(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    user = await make_user(login=False)
    pair = await sign_in(client, user.email)
    await client.post("/auth/login", json={"email": user.email, "password": "Wrong-Secret-99"})
    await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT audit_events::text FROM audit_events").fetchall()
    trail = "\n".join(row[0] for row in rows)
    assert "auth.refresh" in trail
    for secret in (user.password, "Wrong-Secret-99", pair["refresh_token"], pair["access_token"]):
        assert secret not in trail
