"""Operations tagged ``appointments``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import appointments
from domain.appointments import Booking, Search, etag, parse_time
from handlers.context import JSON, caller, cursors, header, single_read, unit_of_work

Reply = tuple[dict[str, Any] | None, int, dict[str, str]]


def _headers(body: dict[str, Any], **extra: str) -> dict[str, str]:
    return {**JSON, "ETag": etag(body["version"]), **extra}


async def list_appointments(token_info: dict[str, Any], limit: int, **query: Any) -> Reply:
    """The caller's appointments, filtered, one page at a time."""
    search = Search(
        doctor_id=UUID(query["doctor_id"]) if query.get("doctor_id") else None,
        patient_id=UUID(query["patient_id"]) if query.get("patient_id") else None,
        statuses=tuple(query.get("status") or ()),
        window_from=parse_time(query["from"]) if query.get("from") else None,
        window_to=parse_time(query["to"]) if query.get("to") else None,
        descending=query.get("sort") == "-start_at",
        cursor=query.get("cursor"),
        limit=limit,
    )
    async with single_read(token_info) as uow:
        page = await appointments.search(uow, caller(token_info), search, cursors())
    return page, 200, JSON


async def create_appointment(
    body: dict[str, Any], token_info: dict[str, Any], override_availability: bool = False
) -> Reply:
    """Book an appointment."""
    key = header("idempotency-key")
    async with unit_of_work(token_info) as uow:
        created = await appointments.book(
            uow,
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
    async with single_read(token_info) as uow:
        body = await appointments.get(uow, caller(token_info), UUID(appointment_id))
    return body, 200, _headers(body)


async def update_appointment(
    appointment_id: str,
    body: dict[str, Any],
    token_info: dict[str, Any],
    override_availability: bool = False,
) -> Reply:
    """Reschedule, edit, or move through the lifecycle; needs If-Match."""
    async with unit_of_work(token_info) as uow:
        updated = await appointments.update(
            uow,
            caller(token_info),
            UUID(appointment_id),
            body,
            header("if-match"),
            override_availability,
        )
    return updated, 200, _headers(updated)


async def delete_appointment(appointment_id: str, token_info: dict[str, Any]) -> Reply:
    """Hide an appointment and free its slot."""
    async with unit_of_work(token_info) as uow:
        await appointments.delete(uow, caller(token_info), UUID(appointment_id))
    return None, 204, {}
