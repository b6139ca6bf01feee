"""Reading profiles and finding doctors: who sees whom, and how much of them."""

from __future__ import annotations

import uuid

import httpx

from domain.model import Role
from tests.conftest import MakeUser, assert_problem

FULL = {"id", "email", "full_name", "role", "specialty", "active", "created_at", "updated_at"}
FULL |= {"email_verified"}
PUBLIC = {"id", "full_name", "role", "specialty"}


async def test_users_me_is_the_callers_full_profile(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.get("/users/me", headers=patient.headers)
    assert reply.status_code == 200
    assert set(reply.json()) == FULL
    assert reply.json()["id"] == patient.id


async def test_a_user_reads_their_own_profile_by_id_in_full(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.get(f"/users/{patient.id}", headers=patient.headers)
    assert set(reply.json()) == FULL


async def test_an_admin_reads_anyones_full_profile(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, patient = await make_user(Role.ADMIN), await make_user()
    reply = await client.get(f"/users/{patient.id}", headers=admin.headers)
    assert reply.json()["email"] == patient.email


async def test_anyone_signed_in_reads_an_active_doctors_public_profile_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR, specialty="Cardiology"), await make_user()
    reply = await client.get(f"/users/{doctor.id}", headers=patient.headers)
    assert reply.status_code == 200
    assert set(reply.json()) == PUBLIC
    assert reply.json()["specialty"] == "Cardiology"


async def test_another_patient_an_inactive_doctor_and_a_stranger_id_all_look_absent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient, other = await make_user(), await make_user()
    inactive = await make_user(Role.DOCTOR, active=False)
    for user_id in (other.id, inactive.id, str(uuid.uuid4())):
        reply = await client.get(f"/users/{user_id}", headers=patient.headers)
        assert assert_problem(reply, 404)["detail"] == "No such user."


async def test_a_patient_finds_active_doctors_with_their_public_profile(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    await make_user()
    doctor = await make_user(Role.DOCTOR, full_name="Dr Active")
    await make_user(Role.DOCTOR, active=False)
    reply = await client.get("/users", headers=patient.headers)
    page = reply.json()
    assert [user["id"] for user in page["items"]] == [doctor.id]
    assert set(page["items"][0]) == PUBLIC
    assert (page["total"], page["limit"], page["offset"]) == (1, 20, 0)


async def test_a_patient_asking_for_patients_or_admins_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    for role in ("patient", "admin"):
        reply = await client.get("/users", params={"role": role}, headers=patient.headers)
        assert_problem(reply, 403)


async def test_an_admin_lists_everyone_in_full_and_filters_by_role(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    patient, doctor = await make_user(), await make_user(Role.DOCTOR, active=False)
    everyone = (await client.get("/users", headers=admin.headers)).json()
    assert {user["id"] for user in everyone["items"]} == {admin.id, patient.id, doctor.id}
    assert all(set(user) == FULL for user in everyone["items"])
    patients = await client.get("/users", params={"role": "patient"}, headers=admin.headers)
    assert [user["id"] for user in patients.json()["items"]] == [patient.id]


async def test_doctors_are_found_by_part_of_their_name_or_specialty_in_name_order(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    zoe = await make_user(Role.DOCTOR, full_name="Zoe Heart", specialty="Cardiology")
    adam = await make_user(Role.DOCTOR, full_name="Adam Brain", specialty="Neurology")
    eve = await make_user(Role.DOCTOR, full_name="Eve Skin", specialty="Dermatology")

    async def found(q: str) -> list[str]:
        reply = await client.get("/users", params={"q": q}, headers=patient.headers)
        return [user["id"] for user in reply.json()["items"]]

    assert await found("CARDIO") == [zoe.id]
    assert await found("brain") == [adam.id]
    assert await found("in") == [adam.id, eve.id]


async def test_pages_hold_limit_users_from_offset_and_the_total_counts_them_all(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    for letter in "ABCDE":
        await make_user(Role.DOCTOR, full_name=f"Dr {letter}")
    reply = await client.get("/users", params={"limit": 2, "offset": 2}, headers=patient.headers)
    page = reply.json()
    assert [user["full_name"] for user in page["items"]] == ["Dr C", "Dr D"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)


async def test_a_search_holding_a_nul_character_is_a_400_not_a_crash(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.get("/users", params={"q": "a\x00b"}, headers=patient.headers)
    assert "NUL" in assert_problem(reply, 400)["detail"]
