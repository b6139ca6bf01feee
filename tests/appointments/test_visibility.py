"""Nobody reaches an appointment that is not theirs: 404, as if it did not exist."""

from __future__ import annotations

import httpx

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem


async def test_another_patient_can_neither_read_list_change_nor_delete_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, owner, intruder = await make_user(Role.DOCTOR), await make_user(), await make_user()
    created = await book(client, owner, start=1, doctor=doctor)
    url = created.headers["location"]
    assert_problem(await client.get(url, headers=intruder.headers), 404)
    changed = await client.put(
        url,
        json={"reason": "mine now"},
        headers={**intruder.headers, "If-Match": created.headers["etag"]},
    )
    assert_problem(changed, 404)
    assert_problem(await client.delete(url, headers=intruder.headers), 404)
    listed = await client.get(
        "/appointments", params={"patient_id": owner.id}, headers=intruder.headers
    )
    assert listed.json()["items"] == []


async def test_another_doctor_cannot_touch_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    created = await book(client, patient, start=1, doctor=doctor)
    url = created.headers["location"]
    assert_problem(await client.get(url, headers=other_doctor.headers), 404)
    moved = await client.put(
        url,
        json={"status": "arrived"},
        headers={**other_doctor.headers, "If-Match": created.headers["etag"]},
    )
    assert_problem(moved, 404)
    listed = await client.get("/appointments", headers=other_doctor.headers)
    assert listed.json()["items"] == []


async def test_an_admin_sees_every_appointment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    created = await book(client, patient, start=1, doctor=doctor)
    assert (await client.get(created.headers["location"], headers=admin.headers)).status_code == 200
    listed = await client.get("/appointments", headers=admin.headers)
    assert [item["id"] for item in listed.json()["items"]] == [created.json()["id"]]


async def test_a_doctor_may_read_the_profile_of_their_patient_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, stranger = await make_user(Role.DOCTOR), await make_user(), await make_user()
    assert_problem(await client.get(f"/users/{patient.id}", headers=doctor.headers), 404)
    await book(client, patient, start=1, doctor=doctor)
    profile = await client.get(f"/users/{patient.id}", headers=doctor.headers)
    assert profile.status_code == 200
    assert "email" not in profile.json()
    assert_problem(await client.get(f"/users/{stranger.id}", headers=doctor.headers), 404)
