"""Operations tagged ``scheduling``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain import availability, scheduling
from domain.appointments import parse_time
from domain.availability import SlotSearch
from handlers.context import JSON, caller, header, transactions

Reply = tuple[dict[str, Any], int, dict[str, str]]


def _with_etag(body: scheduling.Availability) -> Reply:
    return (
        scheduling.to_json(body),
        200,
        {**JSON, "ETag": availability.etag(body.version)},
    )


def _search(query: dict[str, Any]) -> SlotSearch:
    return SlotSearch(
        window_from=parse_time(query["from"]),
        window_to=parse_time(query["to"]),
        time_zone=query.get("time_zone"),
        length_minutes=query.get("length"),
    )


async def get_availability(doctor_id: str, token_info: dict[str, Any]) -> Reply:
    """A doctor's working hours, time off and booking rules."""
    found = await availability.get(transactions(token_info), UUID(doctor_id))
    return _with_etag(found)


async def replace_availability(
    doctor_id: str, body: dict[str, Any], token_info: dict[str, Any]
) -> Reply:
    """Set a doctor's availability; needs If-Match."""
    saved = await availability.replace(
        transactions(token_info), caller(token_info), UUID(doctor_id), body, header("if-match")
    )
    return _with_etag(saved)


async def list_appointments_outside_availability(
    doctor_id: str, token_info: dict[str, Any], limit: int = 20
) -> Reply:
    """The doctor's upcoming appointments the current availability no longer covers."""
    body = await availability.outside(
        transactions(token_info), caller(token_info), UUID(doctor_id), limit
    )
    return body, 200, JSON


async def list_doctor_slots(doctor_id: str, token_info: dict[str, Any], **query: Any) -> Reply:
    """Free slots of one doctor over a window."""
    body = await availability.doctor_slots(
        transactions(token_info), UUID(doctor_id), _search(query)
    )
    return body, 200, JSON


async def list_specialty_slots(
    specialty: str, token_info: dict[str, Any], limit: int = 200, **query: Any
) -> Reply:
    """Free slots of all active doctors of a specialty over a window."""
    body = await availability.specialty_slots(
        transactions(token_info), specialty, _search(query), limit
    )
    return body, 200, JSON
