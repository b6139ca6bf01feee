"""The audit trail answers who touched whose data, and PostgreSQL keeps it append-only."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem


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


async def test_non_admins_cannot_read_the_trail(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    assert_problem(await client.get("/audit-events", headers=doctor.headers), 403)


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
