"""Running a prediction and keeping it on record; reading the records back.

A prediction takes two short transactions with the ML call between them, never inside one:

1. check the model, the patient and appointment referenced, and the caller's rate; write the
   record as ``pending``; commit and give the connection back;
2. ask the ML service, holding no connection (a slow model cannot starve the pool);
3. settle the record as ``succeeded`` or ``failed`` (with the error class and the upstream
   status) and commit.

Each step has its own audit event: ``inference.create`` commits with the pending record,
``inference.complete`` with its outcome, carrying the status the request ends with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain import inference_rules as rules
from domain import paging
from domain.errors import NotFound, TooManyRequests, UnprocessableRequest
from domain.model import Caller, Role
from domain.ports import Transactions, UnitOfWork
from domain.queries import RecordQuery

RATE_WINDOW_SECONDS = 60
# Error classes of our own, beside the ML client's kinds: the request was cancelled before the ML
# service answered (the client went away, the server is stopping), or a fault of ours.
CANCELLED = "cancelled"
INTERNAL_ERROR = "internal_error"
# nginx's convention for "the client closed the request before the answer": what the audit
# event of a cancelled prediction carries as its outcome.
CLIENT_CLOSED_REQUEST = 499

NewUnitOfWork = Callable[[], UnitOfWork]


class Prediction(Protocol):
    @property
    def model_version(self) -> str | None: ...
    @property
    def outputs(self) -> dict[str, Any]: ...
    @property
    def upstream_status(self) -> int: ...


class Predictor(Protocol):
    """What a prediction needs of the ML side (``adapters.ml.MLPredictor`` in the app): the
    models offered, and a prediction or :class:`~domain.inference_rules.PredictionFailed`."""

    @property
    def models(self) -> frozenset[str]: ...

    async def predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction: ...


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    latency = row["latency_ms"]
    return {
        "id": row["id"],
        "model": row["model_name"],
        "model_version": row["model_version"],
        "status": row["status"],
        "outputs": row["outputs"],
        "error_class": row["error_class"],
        "upstream_status": row["upstream_status"],
        "input_sha256": row["input_sha256"],
        "patient_id": row["patient_id"],
        "appointment_id": row["appointment_id"],
        "requested_by": row["requested_by"],
        "requested_at": row["requested_at"],
        "completed_at": row["completed_at"],
        "latency_ms": None if latency is None else float(latency),
    }


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    model: str
    features: Mapping[str, float]
    patient_id: UUID | None = None
    appointment_id: UUID | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> InferenceRequest:
        return cls(
            model=body["model"],
            features=dict(body["features"]),
            patient_id=UUID(body["patient_id"]) if body.get("patient_id") else None,
            appointment_id=UUID(body["appointment_id"]) if body.get("appointment_id") else None,
        )


async def run(
    tx: Transactions,
    predictor: Predictor,
    caller: Caller,
    request: InferenceRequest,
    *,
    rate_per_minute: int,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Predict and record; the reply is the settled record (201), or the predictor's answer to
    the failure once the failure is on record."""
    new_uow = tx.unit_of_work
    record_id, patient_id = await _admit(new_uow, caller, request, predictor, rate_per_minute)
    settled = _Settler(new_uow, record_id, patient_id, time.monotonic())
    try:
        prediction = await predictor.predict(request.model, request.features, request_id)
    except rules.PredictionFailed as failed:
        error = rules.on_record(failed.error, record_id)
        await settled.failure(
            failed.error_class, failed.upstream_status, error.status, failed.reason
        )
        raise error from None
    except asyncio.CancelledError:
        # The record must not stay pending: finish writing it although the request is over.
        await asyncio.shield(settled.failure(CANCELLED, None, CLIENT_CLOSED_REQUEST))
        raise
    except Exception:
        # A fault of ours rather than the ML service's: settle the record all the same.
        await settled.failure(INTERNAL_ERROR, None, 500)
        raise
    return await settled.success(prediction)


async def _admit(
    new_uow: NewUnitOfWork,
    caller: Caller,
    request: InferenceRequest,
    predictor: Predictor,
    rate_per_minute: int,
) -> tuple[UUID, UUID | None]:
    """Transaction 1: every check, then the pending record, committed."""
    async with new_uow() as uow:
        event = uow.audit.record("inference.create", "inference", success_status=201)
        rules.allowed_model(request.model, predictor.models)
        rules.check_values(request.features)
        patient_id = await _concerned_patient(uow, caller, request)
        if patient_id is not None:
            uow.audit.concerns(patient_id)
        records = uow.inference_records
        await records.lock_requester(caller.id)
        wait = await records.seconds_until_room(caller.id, rate_per_minute, RATE_WINDOW_SECONDS)
        if wait is not None:
            raise TooManyRequests(
                f"At most {rate_per_minute} predictions a minute; retry in {wait} s.",
                retry_after=wait,
            )
        record_id = await records.add_pending(
            requested_by=caller.id,
            patient_id=patient_id,
            appointment_id=request.appointment_id,
            model_name=request.model,
            input_sha256=rules.input_sha256(request.model, request.features),
        )
        event.resource_id = str(record_id)
        await uow.commit()
    return record_id, patient_id


async def _concerned_patient(
    uow: UnitOfWork, caller: Caller, request: InferenceRequest
) -> UUID | None:
    """The patient the prediction is about: the one named, or the appointment's. A reference
    the caller may not make answers 404, like one to nothing."""
    patient_id = request.patient_id
    if patient_id is not None:
        patient = await uow.users.get(patient_id)
        if patient is None or patient.role is not Role.PATIENT:
            raise NotFound("No such patient.")
        met = caller.is_admin or await uow.appointments.have_met(
            doctor_id=caller.id, patient_id=patient_id
        )
        if not rules.may_reference_patient(caller, met):
            raise NotFound("No such patient.")
    if request.appointment_id is None:
        return patient_id
    appointment = await uow.appointments.get(request.appointment_id)
    if appointment is None or not rules.may_reference_appointment(caller, appointment["doctor_id"]):
        raise NotFound("No such appointment.")
    if patient_id is not None and appointment["patient_id"] != patient_id:
        raise UnprocessableRequest(
            "The appointment is not the named patient's.", invalid_field="appointment_id"
        )
    appointment_patient: UUID = appointment["patient_id"]
    return appointment_patient


@dataclass(frozen=True, slots=True)
class _Settler:
    """Transaction 2: the outcome of the call, on the pending record."""

    new_uow: NewUnitOfWork
    record_id: UUID
    patient_id: UUID | None
    started: float

    def _latency_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 3)

    async def success(self, prediction: Prediction) -> dict[str, Any]:
        latency_ms = self._latency_ms()
        async with self.new_uow() as uow:
            self._audit(uow, success_status=201)
            await uow.inference_records.succeed(
                self.record_id,
                model_version=prediction.model_version,
                outputs=prediction.outputs,
                upstream_status=prediction.upstream_status,
                latency_ms=latency_ms,
            )
            row = await uow.inference_records.get(self.record_id)
            assert row is not None
            await uow.commit()
        return to_json(row)

    async def failure(
        self,
        error_class: str,
        upstream_status: int | None,
        status: int,
        reason: str | None = None,
    ) -> None:
        latency_ms = self._latency_ms()
        async with self.new_uow() as uow:
            self._audit(uow)
            uow.audit.fail(status, error_class)
            await uow.inference_records.fail(
                self.record_id,
                error_class=error_class,
                upstream_status=upstream_status,
                latency_ms=latency_ms,
                error_reason=reason,
            )
            await uow.commit()

    def _audit(self, uow: UnitOfWork, success_status: int = 200) -> None:
        patients = () if self.patient_id is None else (self.patient_id,)
        uow.audit.record(
            "inference.complete",
            "inference",
            self.record_id,
            patients=patients,
            success_status=success_status,
        )


async def get(tx: Transactions, caller: Caller, record_id: UUID) -> dict[str, Any]:
    async with tx.unit_of_work() as uow:
        uow.audit.record("inference.read", "inference", record_id)
        row = await uow.inference_records.get(record_id)
        if row is not None and row["patient_id"] is not None:
            uow.audit.concerns(row["patient_id"])
        if row is None or not rules.can_see(caller, row["requested_by"]):
            raise rules.not_found()
        return to_json(row)


KEYSET = paging.Keyset(
    "inference records",
    lambda row: (row["requested_at"], row["id"]),
    lambda values: (datetime.fromisoformat(values[0]), UUID(values[1])),
)


async def search(
    tx: Transactions,
    caller: Caller,
    query: RecordQuery,
    cursor: str | None,
    cursors: paging.Cursors,
) -> dict[str, Any]:
    """One page of the records the caller may see, newest first, narrowed by ``query``."""
    async with tx.unit_of_work() as uow:
        uow.audit.record("inference.search", "inference")
        scoped = replace(
            query,
            scope_requested_by=None if caller.is_admin else caller.id,
            after=cursors.after(KEYSET, caller.id, cursor),
            limit=query.limit + 1,  # one more tells whether there is a next page
        )
        rows = await uow.inference_records.find(scoped)
        items, page = cursors.reply(KEYSET, caller.id, rows, query.limit, to_json)
        uow.audit.concerns(*(row["patient_id"] for row in items if row["patient_id"] is not None))
        return page
