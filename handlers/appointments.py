"""Operations tagged ``appointments``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import appointments
from domain.appointments import Booking, etag, parse_time
from domain.queries import AppointmentQuery
from handlers.context import JSON, caller, cursors, header, transactions

Reply = tuple[dict[str, Any] | None, int, dict[str, str]]


def _headers(body: dict[str, Any], **extra: str) -> dict[str, str]:
    return {**JSON, "ETag": etag(body["version"]), **extra}


async def list_appointments(token_info: dict[str, Any], limit: int, **query: Any) -> Reply:
    """The caller's appointments, filtered, one page at a time."""
    filters = AppointmentQuery(
        doctor_id=UUID(query["doctor_id"]) if query.get("doctor_id") else None,
        patient_id=UUID(query["patient_id"]) if query.get("patient_id") else None,
        statuses=tuple(query.get("status") or ()),
        window_from=parse_time(query["from"]) if query.get("from") else None,
        window_to=parse_time(query["to"]) if query.get("to") else None,
        created_after=parse_time(query["created_after"]) if query.get("created_after") else None,
        descending=query.get("sort") == "-start_at",
        limit=limit,
    )
    page = await appointments.search(
        transactions(token_info), caller(token_info), filters, query.get("cursor"), cursors()
    )
    return page, 200, JSON


async def create_appointment(
    body: dict[str, Any], token_info: dict[str, Any], override_availability: bool = False
) -> Reply:
    """Book an appointment."""
    key = header("idempotency-key")
    created = await appointments.book(
        transactions(token_info),
        caller(token_info),
        Booking.from_body(body),
        idempotency_key=key,
        request_body=body,
        override_availability=override_availability,
    )
    extra = {"Location": f"/appointments/{created.body['id']}"}
    if created.replayed:
        extra["Idempotent-Replayed"] = "true"
    return created.body, 201, _headers(created.body, **extra)


async def get_appointment(appointment_id: str, token_info: dict[str, Any]) -> Reply:
    """One appointment the caller may see."""
    body = await appointments.get(
        transactions(token_info), caller(token_info), UUID(appointment_id)
    )
    return body, 200, _headers(body)


async def update_appointment(
    appointment_id: str,
    body: dict[str, Any],
    token_info: dict[str, Any],
    override_availability: bool = False,
) -> Reply:
    """Reschedule, edit, or move through the lifecycle; needs If-Match."""
    updated = await appointments.update(
        transactions(token_info),
        caller(token_info),
        UUID(appointment_id),
        body,
        header("if-match"),
        override_availability,
    )
    return updated, 200, _headers(updated)


async def delete_appointment(appointment_id: str, token_info: dict[str, Any]) -> Reply:
    """Hide an appointment and free its slot."""
    await appointments.delete(transactions(token_info), caller(token_info), UUID(appointment_id))
    return None, 204, {}
