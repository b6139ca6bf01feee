"""Who reads which records, the list's filters and pages, the rate limit, and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem
from tests.inference.conftest import infer

ClientFor = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_a_doctor_reads_their_own_records_only_and_an_admin_reads_all(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, admin = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(Role.ADMIN),
    )
    url = (await infer(client, doctor)).headers["location"]
    assert_problem(await client.get(url, headers=other_doctor.headers), 404)
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    nowhere = f"/inference/{uuid.uuid4()}"
    assert_problem(await client.get(nowhere, headers=admin.headers), 404)


async def test_the_list_shows_a_doctor_their_own_records_and_an_admin_everyones(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, admin = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(Role.ADMIN),
    )
    mine = (await infer(client, doctor)).json()["id"]
    theirs = (await infer(client, other_doctor)).json()["id"]
    listed = await client.get("/inference", headers=doctor.headers)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == [mine]
    everyone = (await client.get("/inference", headers=admin.headers)).json()["items"]
    assert [r["id"] for r in everyone] == [theirs, mine]  # newest first


async def test_filters_narrow_the_list_and_never_widen_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    await book(client, patient, start=1, doctor=doctor)
    await book(client, patient, start=3, doctor=other_doctor)
    about_patient = (await infer(client, doctor, patient_id=patient.id)).json()["id"]
    await infer(client, doctor)
    await infer(client, other_doctor, patient_id=patient.id)
    params = {"patient_id": patient.id, "model": "breast-cancer"}
    listed = (await client.get("/inference", params=params, headers=doctor.headers)).json()
    assert [r["id"] for r in listed["items"]] == [about_patient]
    other_model = {"model": "diabetes"}
    assert (await client.get("/inference", params=other_model, headers=doctor.headers)).json()[
        "items"
    ] == []


async def test_the_list_pages_by_cursor_without_repeats_or_gaps(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    made = [(await infer(client, doctor)).json()["id"] for _ in range(3)]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = (await client.get("/inference", params=params, headers=doctor.headers)).json()
        seen += [r["id"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(made))
    bad = await client.get("/inference", params={"cursor": "nonsense"}, headers=doctor.headers)
    assert_problem(bad, 400)


async def test_too_many_predictions_in_a_minute_answer_429_with_retry_after(
    client: httpx.AsyncClient, make_user: MakeUser, client_for: ClientFor
) -> None:
    doctor, colleague = await make_user(Role.DOCTOR), await make_user(Role.DOCTOR)
    limited = await client_for(inference_rate_per_minute=2)
    assert (await infer(limited, doctor)).status_code == 201
    assert (await infer(limited, doctor)).status_code == 201
    refused = await infer(limited, doctor)
    assert_problem(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Counted per user: a colleague is not held back.
    assert (await infer(limited, colleague)).status_code == 201
    # A refused request is not a prediction and leaves no record.
    assert len((await limited.get("/inference", headers=doctor.headers)).json()["items"]) == 2


async def test_the_audit_trail_names_the_patient_of_each_prediction_read_and_search(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    await book(client, patient, start=1, doctor=doctor)
    url = (await infer(client, doctor, patient_id=patient.id)).headers["location"]
    await client.get(url, headers=doctor.headers)
    await client.get("/inference", headers=doctor.headers)
    events = await client.get(
        "/audit-events",
        params={"patient_id": patient.id, "resource_type": "inference"},
        headers=admin.headers,
    )
    assert events.status_code == 200, events.text
    seen = {(e["action"], e["outcome"]) for e in events.json()["items"]}
    assert seen == {
        ("inference.create", 201),
        ("inference.complete", 201),
        ("inference.read", 200),
        ("inference.search", 200),
    }
    assert all(e["actor_id"] == doctor.id for e in events.json()["items"])
    record_id = url.rsplit("/", 1)[1]
    assert {e["resource_id"] for e in events.json()["items"]} == {record_id, None}
