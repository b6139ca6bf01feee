"""Changing profiles and accounts: only the fields present, only by whom the rules allow."""

from __future__ import annotations

import httpx

from domain.model import Role
from tests.conftest import PASSWORD, MakeUser, assert_problem


async def test_a_user_renames_themself_and_nothing_else_changes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    before = (await client.get("/users/me", headers=patient.headers)).json()
    reply = await client.put(
        f"/users/{patient.id}", json={"full_name": "Anna Renamed"}, headers=patient.headers
    )
    after = reply.json()
    assert reply.status_code == 200
    assert after["full_name"] == "Anna Renamed"
    assert after["updated_at"] > before["updated_at"]
    unchanged = ("email", "role", "specialty", "active", "created_at")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


async def test_a_doctor_changes_their_own_specialty(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    reply = await client.put(
        f"/users/{doctor.id}", json={"specialty": "Neurology"}, headers=doctor.headers
    )
    assert reply.json()["specialty"] == "Neurology"


async def test_a_new_password_replaces_the_old_one_for_sign_in(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    change = {"password": "a brand new passphrase", "current_password": PASSWORD}
    reply = await client.put(f"/users/{patient.id}", json=change, headers=patient.headers)
    assert reply.status_code == 200
    old = await client.post("/auth/login", json={"email": patient.email, "password": PASSWORD})
    assert_problem(old, 401)
    new = {"email": patient.email, "password": change["password"]}
    assert (await client.post("/auth/login", json=new)).status_code == 200


async def test_a_wrong_current_password_is_a_403_and_keeps_the_old_password(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    change = {"password": "a brand new passphrase", "current_password": "not my password"}
    reply = await client.put(f"/users/{patient.id}", json=change, headers=patient.headers)
    assert_problem(reply, 403)
    login = {"email": patient.email, "password": PASSWORD}
    assert (await client.post("/auth/login", json=login)).status_code == 200


async def test_an_admin_appoints_a_doctor_with_a_specialty(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, patient = await make_user(Role.ADMIN), await make_user()
    reply = await client.put(
        f"/users/{patient.id}",
        json={"role": "doctor", "specialty": "Cardiology"},
        headers=admin.headers,
    )
    assert (reply.json()["role"], reply.json()["specialty"]) == ("doctor", "Cardiology")


async def test_a_specialty_for_someone_who_is_not_a_doctor_is_a_400(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, patient = await make_user(Role.ADMIN), await make_user()
    reply = await client.put(
        f"/users/{patient.id}", json={"specialty": "Cardiology"}, headers=admin.headers
    )
    assert_problem(reply, 400)


async def test_a_deactivated_user_can_neither_sign_in_nor_refresh_until_reactivated(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, patient = await make_user(Role.ADMIN), await make_user(login=False)
    credentials = {"email": patient.email, "password": PASSWORD}
    refresh = (await client.post("/auth/login", json=credentials)).json()["refresh_token"]
    off = await client.put(f"/users/{patient.id}", json={"active": False}, headers=admin.headers)
    assert off.json()["active"] is False

    assert_problem(await client.post("/auth/login", json=credentials), 401)
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": refresh}), 401)

    await client.put(f"/users/{patient.id}", json={"active": True}, headers=admin.headers)
    assert (await client.post("/auth/login", json=credentials)).status_code == 200


async def test_a_non_admin_changing_someone_else_finds_nobody(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient, doctor = await make_user(), await make_user(Role.DOCTOR)
    reply = await client.put(
        f"/users/{patient.id}", json={"full_name": "Hijacked"}, headers=doctor.headers
    )
    assert_problem(reply, 404)
    me = await client.get("/users/me", headers=patient.headers)
    assert me.json()["full_name"] != "Hijacked"


async def test_an_empty_change_is_a_400(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    patient = await make_user()
    reply = await client.put(f"/users/{patient.id}", json={}, headers=patient.headers)
    assert_problem(reply, 400)


async def test_a_name_holding_a_nul_character_is_a_400_and_not_stored(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    patient = await make_user()
    reply = await client.put(
        f"/users/{patient.id}", json={"full_name": "Anna\x00"}, headers=patient.headers
    )
    assert "NUL" in assert_problem(reply, 400)["detail"]
    me = await client.get("/users/me", headers=patient.headers)
    assert "\x00" not in me.json()["full_name"]
