"""Retrying a booking with the same Idempotency-Key books once."""

from __future__ import annotations

import asyncio

import httpx

from domain.model import Role
from tests.appointments.conftest import at
from tests.conftest import MakeUser, assert_problem


async def test_the_same_key_and_body_return_the_first_reply(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    body = {"doctor_id": doctor.id, "start_at": at(1), "end_at": at(1.5)}
    headers = {**patient.headers, "Idempotency-Key": "booking-42"}
    first, second = await asyncio.gather(
        client.post("/appointments", json=body, headers=headers),
        client.post("/appointments", json=body, headers=headers),
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert {
        first.headers.get("idempotent-replayed"),
        second.headers.get("idempotent-replayed"),
    } == {
        None,
        "true",
    }
    listed = await client.get("/appointments", headers=patient.headers)
    assert len(listed.json()["items"]) == 1


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    headers = {**patient.headers, "Idempotency-Key": "booking-43"}
    body = {"doctor_id": doctor.id, "start_at": at(1), "end_at": at(1.5)}
    assert (await client.post("/appointments", json=body, headers=headers)).status_code == 201
    other = {**body, "start_at": at(2), "end_at": at(2.5)}
    assert_problem(await client.post("/appointments", json=other, headers=headers), 422)


async def test_a_failed_attempt_does_not_burn_the_key(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, rival = await make_user(Role.DOCTOR), await make_user(), await make_user()
    taken = {"doctor_id": doctor.id, "start_at": at(1), "end_at": at(1.5)}
    rivals = await client.post("/appointments", json=taken, headers=rival.headers)
    headers = {**patient.headers, "Idempotency-Key": "booking-44"}
    assert_problem(await client.post("/appointments", json=taken, headers=headers), 409)
    await client.delete(rivals.headers["location"], headers=rival.headers)
    retry = await client.post("/appointments", json=taken, headers=headers)
    assert retry.status_code == 201
