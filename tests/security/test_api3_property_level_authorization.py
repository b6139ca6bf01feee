"""API3:2023 Broken Object Property Level Authorization.

No mass assignment: fields a caller may not change are refused by name (403
``refused_fields``), fields the contract does not know are refused outright (400), and replies
carry only the properties the caller may see: never a password or its hash, never another
patient's details in a conflict, and only the public profile of other users.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from domain.model import Role
from tests.appointments.conftest import at, book
from tests.conftest import PASSWORD, MakeUser, assert_problem

PUBLIC_PROFILE = {"id", "full_name", "role", "specialty"}
FULL_PROFILE = PUBLIC_PROFILE | {"email", "email_verified", "active", "created_at", "updated_at"}


# --- fields the caller may not change --------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "changes", "refused"),
    [
        (Role.PATIENT, {"role": "admin"}, ["role"]),
        (Role.PATIENT, {"active": False}, ["active"]),
        (
            Role.PATIENT,
            {"full_name": "Me", "role": "doctor", "specialty": "X"},
            ["role", "specialty"],
        ),
        (Role.DOCTOR, {"role": "admin"}, ["role"]),
        (Role.ADMIN, {"role": "patient"}, ["role"]),
        (Role.ADMIN, {"active": False}, ["active"]),
    ],
)
async def test_nobody_changes_their_own_role_or_active_flag(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    role: Role,
    changes: dict[str, Any],
    refused: list[str],
) -> None:
    me = await make_user(role)
    reply = await client.put(f"/users/{me.id}", json=changes, headers=me.headers)
    assert assert_problem(reply, 403)["refused_fields"] == refused
    profile = (await client.get("/users/me", headers=me.headers)).json()
    assert (profile["role"], profile["active"]) == (role.value, True)


async def test_users_may_change_their_own_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    me = await make_user()
    reply = await client.put(f"/users/{me.id}", json={"full_name": "New Name"}, headers=me.headers)
    assert reply.json()["full_name"] == "New Name"


async def test_patients_cannot_write_a_doctors_notes_nor_doctors_a_patients_reason(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    created = await book(client, patient, start=1, doctor=doctor, reason="headache")
    url, etag = created.headers["location"], created.headers["etag"]
    notes = await client.put(
        url, json={"notes": "fine"}, headers={**patient.headers, "If-Match": etag}
    )
    assert assert_problem(notes, 403)["refused_fields"] == ["notes"]
    reason = await client.put(
        url, json={"reason": "none"}, headers={**doctor.headers, "If-Match": etag}
    )
    assert assert_problem(reason, 403)["refused_fields"] == ["reason"]
    unchanged = (await client.get(url, headers=doctor.headers)).json()
    assert (unchanged["notes"], unchanged["reason"], unchanged["version"]) == (None, "headache", 1)


# --- fields the contract does not know -------------------------------------------------------


async def test_sign_up_refuses_unknown_fields_such_as_a_role(client: httpx.AsyncClient) -> None:
    body = {"email": "eve@example.org", "password": PASSWORD, "full_name": "Eve", "role": "admin"}
    assert_problem(await client.post("/auth/register", json=body), 400)
    login = await client.post("/auth/login", json={"email": body["email"], "password": PASSWORD})
    assert_problem(login, 401)


@pytest.mark.parametrize("field", ["email", "password_hash", "session_version", "id"])
async def test_a_profile_update_refuses_fields_outside_the_contract(
    client: httpx.AsyncClient, make_user: MakeUser, field: str
) -> None:
    admin, user = await make_user(Role.ADMIN), await make_user()
    reply = await client.put(f"/users/{user.id}", json={field: "x"}, headers=admin.headers)
    assert field in assert_problem(reply, 400)["detail"]


@pytest.mark.parametrize(
    "extra", [{"status": "fulfilled"}, {"notes": "I am fine"}, {"version": 9}, {"booked_by": "x"}]
)
async def test_a_booking_refuses_fields_outside_the_contract(
    client: httpx.AsyncClient, make_user: MakeUser, extra: dict[str, Any]
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    assert_problem(await book(client, patient, start=1, doctor=doctor, **extra), 400)
    assert (await client.get("/appointments", headers=patient.headers)).json()["items"] == []


# --- what replies may carry ------------------------------------------------------------------


async def test_no_reply_carries_a_password_or_its_hash(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    body = {"email": "anna@example.org", "password": PASSWORD, "full_name": "Anna"}
    replies = [
        await client.post("/auth/register", json=body),
        await client.post("/auth/login", json={"email": body["email"], "password": PASSWORD}),
        await client.get("/users/me", headers=admin.headers),
        await client.get("/users", params={"role": "patient"}, headers=admin.headers),
    ]
    for reply in replies:
        assert reply.status_code in (200, 201), reply.text
        assert "password" not in reply.text
        assert "$2b$" not in reply.text


async def test_a_slot_conflict_says_when_but_never_whose_appointment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, first, second = (
        await make_user(Role.DOCTOR, full_name="Doctor Who"),
        await make_user(full_name="Private Patient"),
        await make_user(),
    )
    taken = await book(client, first, start=1, doctor=doctor, reason="confidential matter")
    clash = await book(client, second, start=1, doctor=doctor)
    conflict = assert_problem(clash, 409)
    assert conflict["conflict"] == "doctor_busy"
    assert conflict["busy_from"] == at(1)
    for secret in (first.id, first.email, "Private Patient", "confidential", taken.json()["id"]):
        assert secret not in clash.text


async def profile_keys(client: httpx.AsyncClient, caller: Any, user_id: str) -> set[str]:
    reply = await client.get(f"/users/{user_id}", headers=caller.headers)
    assert reply.status_code == 200, reply.text
    return set(reply.json())


async def test_others_get_the_public_profile_and_only_self_and_admins_the_full_one(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    await book(client, patient, start=1, doctor=doctor)
    assert await profile_keys(client, patient, doctor.id) == PUBLIC_PROFILE
    assert await profile_keys(client, doctor, patient.id) == PUBLIC_PROFILE
    assert await profile_keys(client, patient, patient.id) == FULL_PROFILE
    assert await profile_keys(client, admin, patient.id) == FULL_PROFILE
    listed = await client.get("/users", headers=patient.headers)
    assert [set(user) for user in listed.json()["items"]] == [PUBLIC_PROFILE]
