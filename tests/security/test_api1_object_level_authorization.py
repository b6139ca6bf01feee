"""API1:2023 Broken Object Level Authorization.

Every object id a caller sends is checked against who the caller is. An object the caller may
not see answers exactly like one that does not exist (404, same body), so ids cannot be probed.
Each test also shows the rightful caller succeeding, so a service that refused everything
would not pass.
"""

from __future__ import annotations

import uuid

import httpx

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem


async def test_another_patients_appointment_looks_like_one_that_does_not_exist(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, owner, intruder = await make_user(Role.DOCTOR), await make_user(), await make_user()
    created = await book(client, owner, start=1, doctor=doctor)
    url, etag = created.headers["location"], created.headers["etag"]
    assert (await client.get(url, headers=owner.headers)).status_code == 200
    nowhere = f"/appointments/{uuid.uuid4()}"
    for target in (url, nowhere):
        read = assert_problem(await client.get(target, headers=intruder.headers), 404)
        changed = await client.put(
            target, json={"reason": "mine now"}, headers={**intruder.headers, "If-Match": etag}
        )
        deleted = await client.delete(target, headers=intruder.headers)
        assert assert_problem(changed, 404) == assert_problem(deleted, 404) == read
    still = await client.get(url, headers=owner.headers)
    assert (still.json()["reason"], still.json()["version"]) == (None, 1)


async def test_a_doctor_cannot_reach_another_doctors_appointment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    created = await book(client, patient, start=1, doctor=doctor)
    url, etag = created.headers["location"], created.headers["etag"]
    assert_problem(await client.get(url, headers=other_doctor.headers), 404)
    notes = await client.put(
        url,
        json={"notes": "Diagnosis: none of your business"},
        headers={**other_doctor.headers, "If-Match": etag},
    )
    assert_problem(notes, 404)
    assert_problem(await client.delete(url, headers=other_doctor.headers), 404)
    assert (await client.get(url, headers=doctor.headers)).json()["notes"] is None


async def test_list_filters_narrow_a_patients_appointments_but_never_widen_them(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, me, other = await make_user(Role.DOCTOR), await make_user(), await make_user()
    mine = (await book(client, me, start=1, doctor=doctor)).json()["id"]
    await book(client, other, start=3, doctor=doctor)

    async def listed(**params: str) -> list[str]:
        reply = await client.get("/appointments", params=params, headers=me.headers)
        assert reply.status_code == 200, reply.text
        return [item["id"] for item in reply.json()["items"]]

    assert await listed() == [mine]
    assert await listed(doctor_id=doctor.id) == [mine]
    assert await listed(patient_id=other.id) == []
    assert await listed(patient_id=me.id) == [mine]


async def test_list_filters_never_show_a_doctor_another_doctors_patients(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, snoop, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    await book(client, patient, start=1, doctor=doctor)
    for params in ({}, {"doctor_id": doctor.id}, {"patient_id": patient.id}):
        reply = await client.get("/appointments", params=params, headers=snoop.headers)
        assert reply.json()["items"] == [], params
    own = await client.get("/appointments", headers=doctor.headers)
    assert len(own.json()["items"]) == 1


async def test_another_patients_profile_looks_like_one_that_does_not_exist(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    me, other = await make_user(), await make_user()
    assert (await client.get(f"/users/{me.id}", headers=me.headers)).status_code == 200
    for target in (other.id, str(uuid.uuid4())):
        read = assert_problem(await client.get(f"/users/{target}", headers=me.headers), 404)
        renamed = await client.put(
            f"/users/{target}", json={"full_name": "Renamed"}, headers=me.headers
        )
        assert assert_problem(renamed, 404) == read


async def test_a_doctor_sees_a_patients_profile_only_while_they_have_met(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, stranger = await make_user(Role.DOCTOR), await make_user(), await make_user()
    await book(client, patient, start=1, doctor=doctor)
    assert (await client.get(f"/users/{patient.id}", headers=doctor.headers)).status_code == 200
    assert_problem(await client.get(f"/users/{stranger.id}", headers=doctor.headers), 404)


async def test_a_patient_cannot_book_in_another_patients_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, me, other = await make_user(Role.DOCTOR), await make_user(), await make_user()
    assert_problem(await book(client, me, start=1, doctor=doctor, patient=other), 403)
    listed = await client.get("/appointments", headers=other.headers)
    assert listed.json()["items"] == []
    assert (await book(client, me, start=1, doctor=doctor, patient=me)).status_code == 201


async def test_listing_users_never_reveals_patients_to_non_admins(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    for caller in (patient, doctor):
        found = await client.get("/users", headers=caller.headers)
        assert [user["role"] for user in found.json()["items"]] == ["doctor"]
        assert_problem(
            await client.get("/users", params={"role": "patient"}, headers=caller.headers), 403
        )
    everyone = await client.get("/users", params={"role": "patient"}, headers=admin.headers)
    assert [user["id"] for user in everyone.json()["items"]] == [patient.id]
