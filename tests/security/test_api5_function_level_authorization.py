"""API5:2023 Broken Function Level Authorization.

Admin functions (the admin check, the audit trail, account administration) answer 403 or 404
to every other role. The role comes from the database on every request, so a demoted admin
loses the functions at once.
"""

from __future__ import annotations

import httpx
import pytest

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem
from tests.security.conftest import bearer, sign_in

ADMIN_ONLY = ["/private", "/audit-events"]


@pytest.mark.parametrize("path", ADMIN_ONLY)
async def test_admin_operations_answer_admins_only(
    client: httpx.AsyncClient, make_user: MakeUser, path: str
) -> None:
    admin = await make_user(Role.ADMIN)
    assert (await client.get(path, headers=admin.headers)).status_code == 200
    for role in (Role.PATIENT, Role.DOCTOR):
        caller = await make_user(role)
        assert_problem(await client.get(path, headers=caller.headers), 403)
    assert_problem(await client.get(path), 401)


@pytest.mark.parametrize(
    "changes", [{"role": "admin"}, {"role": "doctor"}, {"active": False}, {"full_name": "X"}]
)
async def test_patients_and_doctors_cannot_administer_other_accounts(
    client: httpx.AsyncClient, make_user: MakeUser, changes: dict[str, object]
) -> None:
    doctor, patient, victim = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(),
    )
    await book(client, victim, start=1, doctor=doctor)  # the doctor may even see the victim
    for caller in (patient, doctor):
        reply = await client.put(f"/users/{victim.id}", json=changes, headers=caller.headers)
        assert_problem(reply, 404)
    assert (await client.get("/users/me", headers=victim.headers)).json()["role"] == "patient"


async def test_an_admin_appoints_a_doctor_and_the_new_role_applies_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, user = await make_user(Role.ADMIN), await make_user(login=False)
    appointed = await client.put(
        f"/users/{user.id}",
        json={"role": "doctor", "specialty": "Cardiology"},
        headers=admin.headers,
    )
    assert appointed.json()["role"] == "doctor"
    pair = await sign_in(client, user.email)
    assert_problem(await client.get("/private", headers=bearer(pair)), 403)


async def test_a_demoted_admin_loses_admin_operations_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, demoted = await make_user(Role.ADMIN), await make_user(Role.ADMIN)
    assert (await client.get("/audit-events", headers=demoted.headers)).status_code == 200
    off = await client.put(f"/users/{demoted.id}", json={"role": "patient"}, headers=admin.headers)
    assert off.status_code == 200
    fresh = await sign_in(client, demoted.email)
    for path in ADMIN_ONLY:
        assert_problem(await client.get(path, headers=demoted.headers), 401)  # session ended
        assert_problem(await client.get(path, headers=bearer(fresh)), 403)


async def test_doctors_cannot_list_patients_or_book_for_other_doctors(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    for role in ("patient", "admin"):
        listed = await client.get("/users", params={"role": role}, headers=doctor.headers)
        assert_problem(listed, 403)
    for_other = await book(client, doctor, start=1, doctor=other_doctor, patient=patient)
    assert_problem(for_other, 403)
    assert (await book(client, doctor, start=1, patient=patient)).status_code == 201
