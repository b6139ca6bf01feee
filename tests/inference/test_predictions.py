"""A doctor's prediction comes from the reference model server over HTTP and stays on record."""

from __future__ import annotations

import math
import re

import httpx
import psycopg

from domain.model import Role
from tests.conftest import MakeUser, assert_problem
from tests.inference.conftest import CASE, MALIGNANT, infer


async def test_a_doctor_gets_a_real_prediction_from_the_reference_model(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    reply = await infer(client, doctor)
    assert reply.status_code == 201, reply.text
    record = reply.json()
    assert record["status"] == "succeeded"
    assert (record["model"], record["model_version"]) == ("breast-cancer", "1")
    assert record["outputs"]["label"] == "malignant"
    assert math.isclose(record["outputs"]["probability"], MALIGNANT["probability"], rel_tol=1e-9)
    assert record["requested_by"] == doctor.id
    assert record["upstream_status"] == 200
    assert record["error_class"] is None
    assert record["latency_ms"] > 0
    assert reply.headers["location"] == f"/inference/{record['id']}"


async def test_the_record_reads_back_as_it_was_answered(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    created = await infer(client, doctor)
    read = await client.get(created.headers["location"], headers=doctor.headers)
    assert read.status_code == 200, read.text
    assert read.json() == created.json()


async def test_the_same_case_always_has_the_same_input_hash(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    first = (await infer(client, doctor)).json()
    # Same values, other key order, whole numbers written as integers.
    shuffled = {name: CASE[name] for name in reversed(CASE)}
    shuffled["worst_area"] = int(CASE["worst_area"])
    second = (await infer(client, doctor, shuffled)).json()
    other = (await infer(client, doctor, {**CASE, "mean_radius": 9.0})).json()
    assert re.fullmatch(r"[0-9a-f]{64}", first["input_sha256"])
    assert first["id"] != second["id"]
    assert first["input_sha256"] == second["input_sha256"]
    assert other["input_sha256"] != first["input_sha256"]


async def test_the_record_keeps_the_hash_of_the_input_not_the_input(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    doctor = await make_user(Role.DOCTOR)
    await infer(client, doctor, {**CASE, "mean_radius": 23.456789})
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT row_to_json(r)::text FROM inference_records r").fetchone()
    assert stored is not None
    assert "23.456789" not in stored[0]
    assert "mean_radius" not in stored[0]


async def test_an_admin_may_run_predictions_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(Role.ADMIN)
    assert (await infer(client, admin)).status_code == 201


async def test_a_patient_may_not_run_read_or_list_predictions(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    url = (await infer(client, doctor)).headers["location"]
    assert_problem(await infer(client, patient), 403)
    assert_problem(await client.get(url, headers=patient.headers), 403)
    assert_problem(await client.get("/inference", headers=patient.headers), 403)
    assert_problem(await client.get("/inference/health", headers=patient.headers), 403)
    assert_problem(await client.post("/inference", json={"model": "breast-cancer"}), 401)


async def test_a_model_not_offered_is_unprocessable_and_nothing_is_recorded(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    problem = assert_problem(await infer(client, doctor, model="diabetes"), 422)
    assert problem["invalid_field"] == "model"
    assert problem["models"] == ["breast-cancer"]
    assert (await client.get("/inference", headers=doctor.headers)).json()["items"] == []


async def test_features_that_are_not_the_models_are_refused_and_recorded_as_failed(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    features = {name: value for name, value in CASE.items() if name != "worst_area"}
    features["tumour_colour"] = 3.0
    problem = assert_problem(await infer(client, doctor, features), 422)
    assert problem["invalid_field"] == "features"
    assert problem["missing_features"] == ["worst_area"]
    assert problem["unknown_features"] == ["tumour_colour"]
    record = await client.get(f"/inference/{problem['inference_id']}", headers=doctor.headers)
    assert record.json()["status"] == "failed"
    assert record.json()["error_class"] == "input_rejected"
    assert record.json()["outputs"] is None


async def test_a_feature_that_is_not_a_number_is_a_bad_request(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor = await make_user(Role.DOCTOR)
    assert_problem(await infer(client, doctor, {**CASE, "mean_radius": "large"}), 400)
    assert_problem(await infer(client, doctor, {}), 400)
