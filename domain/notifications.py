"""Telling people and systems that an appointment changed: events, emails, reminders.

A use case that changes an appointment writes one event to the outbox with its change
(``announce``). The dispatcher later fans the event out (``fan_out``), in one transaction of
its own: an email to the patient and one to the doctor, the reminder for its start time, and
one webhook delivery per endpoint subscribed to its type. Every message written by the fan-out
has a dedup key derived from the event id, so a fan-out run twice (a dispatcher died after
committing it) writes nothing twice. A reminder is checked when it falls due (``remind``): not
sent for an appointment cancelled, moved or already begun, and its email written once per
appointment and start time, however often the reminder itself runs.

Events carry ids, times and status only: never the reason or the notes (clinical free text).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from domain.model import User, utc_iso
from domain.outbox import Email, Outbox

APPOINTMENT_EVENT = "appointment_event"
REMINDER = "appointment_reminder"
WEBHOOK = "webhook"

BOOKED = "appointment.booked"
RESCHEDULED = "appointment.rescheduled"
CANCELLED = "appointment.cancelled"
EVENT_TYPES = (BOOKED, RESCHEDULED, CANCELLED)

# The appointment's fields an event carries (the API's names); never reason/notes.
_FIELDS = ("patient_id", "doctor_id", "start_at", "end_at", "status", "version")


@dataclass(frozen=True, slots=True)
class AppointmentEvent:
    """The body of the webhook as receivers get it, and what the fan-out starts from."""

    type: str
    data: Mapping[str, Any]
    id: UUID = field(default_factory=uuid.uuid4)
    created_at: str = ""
    kind: str = field(default=APPOINTMENT_EVENT, init=False)

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "created_at": self.created_at,
            "data": dict(self.data),
        }


def event_of(
    event_type: str,
    row: Mapping[str, Any],
    now: datetime,
    previous: Mapping[str, Any] | None = None,
) -> AppointmentEvent:
    data: dict[str, Any] = {"appointment_id": str(row["id"])}
    for name in _FIELDS:
        value = row[name]
        data[name] = utc_iso(value) if isinstance(value, datetime) else str(value)
    data["version"] = int(row["version"])
    if previous is not None:
        data["previous_start_at"] = utc_iso(previous["start_at"])
        data["previous_end_at"] = utc_iso(previous["end_at"])
    return AppointmentEvent(type=event_type, data=data, created_at=utc_iso(now))


async def announce(
    outbox: Outbox,
    event_type: str,
    row: Mapping[str, Any],
    now: datetime,
    previous: Mapping[str, Any] | None = None,
) -> None:
    """Write the event of a change, in the change's transaction (call before commit)."""
    await outbox.enqueue(event_of(event_type, row, now, previous))


@dataclass(frozen=True, slots=True)
class Reminder:
    appointment_id: UUID
    start_at: str
    kind: str = field(default=REMINDER, init=False)

    def payload(self) -> dict[str, Any]:
        return {"appointment_id": str(self.appointment_id), "start_at": self.start_at}


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    endpoint_id: UUID
    event: Mapping[str, Any]
    kind: str = field(default=WEBHOOK, init=False)

    def payload(self) -> dict[str, Any]:
        return {"endpoint_id": str(self.endpoint_id), "event": dict(self.event)}


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class Renderer(Protocol):
    """Email templates (adapters/templates.py): one per event type and the reminder."""

    def render(self, template: str, context: Mapping[str, Any]) -> RenderedEmail: ...


class NotificationUsers(Protocol):
    async def get(self, user_id: UUID) -> User | None: ...


class NotificationAppointments(Protocol):
    async def get(self, appointment_id: UUID) -> Mapping[str, Any] | None: ...


class SubscribedEndpoints(Protocol):
    async def subscribed(self, event_type: str) -> Sequence[UUID]:
        """The enabled endpoints that chose ``event_type``."""
        ...


class NotificationUnitOfWork(Protocol):
    @property
    def users(self) -> NotificationUsers: ...

    @property
    def appointments(self) -> NotificationAppointments: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def webhooks(self) -> SubscribedEndpoints: ...

    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    reminder_lead: timedelta = timedelta(hours=24)
    # Users have no time zone of their own (yet): times in emails are shown in this one.
    timezone: str = "UTC"


def _when(moment: str, zone: str) -> str:
    local = datetime.fromisoformat(moment).astimezone(ZoneInfo(zone))
    return local.strftime("%A %d %B %Y, %H:%M ") + (local.tzname() or zone)


def _context(
    data: Mapping[str, Any], recipient: User, patient: User, doctor: User, zone: str
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "recipient_name": recipient.full_name,
        "for_doctor": recipient.id == doctor.id,
        "patient_name": patient.full_name,
        "doctor_name": doctor.full_name,
        "start": _when(data["start_at"], zone),
        "end": _when(data["end_at"], zone),
        "appointment_id": data["appointment_id"],
    }
    if "previous_start_at" in data:
        context["previous_start"] = _when(data["previous_start_at"], zone)
    return context


async def fan_out(
    uow: NotificationUnitOfWork,
    event: Mapping[str, Any],
    renderer: Renderer,
    settings: NotificationSettings,
    now: datetime,
) -> None:
    """Turn one event into its emails, reminder and webhook deliveries (one transaction)."""
    event_id, event_type, data = event["id"], event["type"], event["data"]
    patient = await uow.users.get(UUID(data["patient_id"]))
    doctor = await uow.users.get(UUID(data["doctor_id"]))
    if patient is not None and doctor is not None:
        for recipient in (patient, doctor):
            if not recipient.active:
                continue
            rendered = renderer.render(
                event_type, _context(data, recipient, patient, doctor, settings.timezone)
            )
            await uow.outbox.enqueue(
                Email(recipient.email, rendered.subject, rendered.text, rendered.html),
                dedup_key=f"event:{event_id}:mail:{recipient.id}",
            )
    if event_type in (BOOKED, RESCHEDULED):
        start = datetime.fromisoformat(data["start_at"])
        due = start - settings.reminder_lead
        # Booked inside the lead time: the confirmation is the reminder.
        if due > now:
            await uow.outbox.enqueue(
                Reminder(UUID(data["appointment_id"]), data["start_at"]),
                not_before=due,
                dedup_key=f"reminder:{data['appointment_id']}:{data['start_at']}",
            )
    for endpoint_id in await uow.webhooks.subscribed(event_type):
        await uow.outbox.enqueue(
            WebhookDelivery(endpoint_id, event),
            dedup_key=f"event:{event_id}:webhook:{endpoint_id}",
        )
    await uow.commit()


async def remind(
    uow: NotificationUnitOfWork,
    reminder: Mapping[str, Any],
    renderer: Renderer,
    settings: NotificationSettings,
    now: datetime,
) -> bool:
    """Write the reminder email if the appointment is still booked at that time and has not
    begun; True if it was written (now or by an earlier run)."""
    appointment_id = UUID(reminder["appointment_id"])
    row = await uow.appointments.get(appointment_id)
    if (
        row is None
        or row["status"] != "booked"
        or utc_iso(row["start_at"]) != reminder["start_at"]
        or row["start_at"] <= now
    ):
        return False
    patient = await uow.users.get(row["patient_id"])
    doctor = await uow.users.get(row["doctor_id"])
    if patient is None or doctor is None or not patient.active:
        return False
    data = {
        "appointment_id": str(appointment_id),
        "start_at": utc_iso(row["start_at"]),
        "end_at": utc_iso(row["end_at"]),
    }
    rendered = renderer.render(
        "appointment.reminder", _context(data, patient, patient, doctor, settings.timezone)
    )
    await uow.outbox.enqueue(
        Email(patient.email, rendered.subject, rendered.text, rendered.html),
        dedup_key=f"reminder-mail:{appointment_id}:{reminder['start_at']}",
    )
    await uow.commit()
    return True
