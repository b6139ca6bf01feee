"""Helpers for appointment tests: times in the future and a booking shortcut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Account

# Whole hours from a fixed base a day ahead keep slots apart and readable.
BASE = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def at(hours: float, tz: str = "Z") -> str:
    moment = BASE + timedelta(hours=hours)
    if tz == "Z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = 1 if tz[0] == "+" else -1
    offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
    return (moment + offset).strftime("%Y-%m-%dT%H:%M:%S") + tz


async def book(
    client: httpx.AsyncClient,
    who: Account,
    *,
    start: float,
    minutes: int = 30,
    doctor: Account | None = None,
    patient: Account | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"start_at": at(start), "end_at": at(start + minutes / 60), **extra}
    if doctor is not None:
        body["doctor_id"] = doctor.id
    if patient is not None:
        body["patient_id"] = patient.id
    return await client.post("/appointments", json=body, headers=who.headers)
