"""A prediction may name the patient and appointment it is about, within the caller's reach:
a doctor only their own patients and appointments (anything else looks absent), an admin any."""

from __future__ import annotations

import uuid

import httpx

from domain.model import Role
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem
from tests.inference.conftest import infer


async def test_a_doctor_may_name_a_patient_they_have_an_appointment_with(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    await book(client, patient, start=1, doctor=doctor)
    reply = await infer(client, doctor, patient_id=patient.id)
    assert reply.status_code == 201, reply.text
    assert reply.json()["patient_id"] == patient.id
    assert reply.json()["appointment_id"] is None


async def test_a_doctor_naming_another_doctors_patient_gets_404(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    await book(client, patient, start=1, doctor=other_doctor)
    problem = assert_problem(await infer(client, doctor, patient_id=patient.id), 404)
    assert problem["detail"] == "No such patient."
    # The same answer as for nobody at all: the reply tells nothing about who exists.
    nobody = assert_problem(await infer(client, doctor, patient_id=str(uuid.uuid4())), 404)
    assert nobody["detail"] == problem["detail"]


async def test_a_doctor_naming_another_doctors_appointment_gets_404(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, other_doctor, patient = (
        await make_user(Role.DOCTOR),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    theirs = (await book(client, patient, start=1, doctor=other_doctor)).json()["id"]
    problem = assert_problem(await infer(client, doctor, appointment_id=theirs), 404)
    assert problem["detail"] == "No such appointment."


async def test_an_appointment_alone_names_its_patient(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    appointment = (await book(client, patient, start=1, doctor=doctor)).json()["id"]
    record = (await infer(client, doctor, appointment_id=appointment)).json()
    assert (record["appointment_id"], record["patient_id"]) == (appointment, patient.id)


async def test_an_appointment_of_another_patient_than_the_one_named_is_unprocessable(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient, other_patient = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(),
    )
    await book(client, patient, start=1, doctor=doctor)
    appointment = (await book(client, other_patient, start=3, doctor=doctor)).json()["id"]
    reply = await infer(client, doctor, patient_id=patient.id, appointment_id=appointment)
    assert assert_problem(reply, 422)["invalid_field"] == "appointment_id"


async def test_only_patients_can_be_named_as_the_patient(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, other_doctor = await make_user(Role.ADMIN), await make_user(Role.DOCTOR)
    assert_problem(await infer(client, admin, patient_id=other_doctor.id), 404)


async def test_an_admin_may_name_any_patient_and_appointment(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin, doctor, patient = (
        await make_user(Role.ADMIN),
        await make_user(Role.DOCTOR),
        await make_user(),
    )
    stranger = await make_user()
    appointment = (await book(client, patient, start=1, doctor=doctor)).json()["id"]
    assert (await infer(client, admin, patient_id=stranger.id)).status_code == 201
    reply = await infer(client, admin, patient_id=patient.id, appointment_id=appointment)
    assert reply.status_code == 201, reply.text


async def test_a_refused_reference_leaves_no_record(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    assert_problem(await infer(client, doctor, patient_id=patient.id), 404)
    assert (await client.get("/inference", headers=doctor.headers)).json()["items"] == []
