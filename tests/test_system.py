"""The probes and the admin access check."""

from __future__ import annotations

import httpx

from domain.model import Role
from service import migrate
from tests.conftest import MakeUser, assert_problem


async def test_liveness_answers_without_a_token(client: httpx.AsyncClient) -> None:
    reply = await client.get("/health/live")
    assert (reply.status_code, reply.json()) == (200, {"status": "ok"})


async def test_readiness_reports_the_database_and_its_schema_revision(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get("/health/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {
        "database": "ok",
        "schema": migrate.head_revision(),
        "outbox": "ok",
    }


async def test_private_answers_an_admin(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(Role.ADMIN)
    reply = await client.get("/private", headers=admin.headers)
    assert reply.status_code == 200
    assert (reply.json()["user_id"], reply.json()["role"]) == (admin.id, "admin")


async def test_private_refuses_patients_and_doctors_with_403(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    for role in (Role.PATIENT, Role.DOCTOR):
        account = await make_user(role)
        assert_problem(await client.get("/private", headers=account.headers), 403)


async def test_private_refuses_a_missing_or_bad_token_with_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/private"), 401)
    bad = {"Authorization": "Bearer not-a-token"}
    assert_problem(await client.get("/private", headers=bad), 401)
