"""Booking, rescheduling and cancelling, seen from a real SMTP server and a real HTTP receiver on
loopback: the emails to both parties, signed webhooks, the reminder, retries and the delivery
log, an endpoint that keeps failing, and the SSRF rules for webhook URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from standardwebhooks import Webhook

from domain.model import Role
from domain.outbox import DispatchResult, RetryPolicy, dispatch_once
from persistence.outbox import OutboxStore
from service.app import create_app
from service.outbox_worker import senders
from service.settings import Settings
from tests.appointments.conftest import at, book
from tests.conftest import Account, MakeUser, assert_problem
from tests.conftest import test_settings as settings_for
from tests.mail_receiver import MailReceiver, body
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.db

# Retries wait long enough not to fall due while a test drains the outbox; a test that wants
# one retried now moves it forward (as time passing would).
POLICY = RetryPolicy(base=timedelta(seconds=30), lease=timedelta(seconds=30))


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@dataclass
class Clinic:
    """The API in-process, with settings that deliver to the test's receivers, and a way to
    run the dispatcher until nothing is due."""

    api: httpx.AsyncClient
    settings: Settings
    runtime: Any
    database_url: str

    async def drain(self, policy: RetryPolicy = POLICY) -> DispatchResult:
        total = DispatchResult()
        store = OutboxStore(self.runtime.database)
        every = senders(self.settings, self.runtime.database)
        while (result := await dispatch_once(store, every, policy)).claimed:
            total.delivered += result.delivered
            total.retried += result.retried
            total.dead += result.dead
        return total

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    async def register(self, admin: Account, receiver: WebhookReceiver, **extra: Any) -> Any:
        body = {"url": receiver.url, "event_types": list(extra.pop("types", ALL_TYPES)), **extra}
        reply = await self.api.post("/webhooks", json=body, headers=admin.headers)
        assert reply.status_code == 201, reply.text
        return reply.json()


ALL_TYPES = ("appointment.booked", "appointment.rescheduled", "appointment.cancelled")


@pytest.fixture
async def clinic(
    client: httpx.AsyncClient, database_url: str, smtp_receiver: MailReceiver
) -> AsyncIterator[Clinic]:
    settings = settings_for(
        smtp_url=smtp_receiver.url,
        webhook_allow_private=True,
        webhook_disable_after=3,
        notify_timezone="Europe/Berlin",
    )
    application = create_app(settings, database_url)
    await application.runtime.start()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as api:
        yield Clinic(api, settings, application.runtime, database_url)
    await application.runtime.stop()


@dataclass
class People:
    admin: Account
    doctor: Account
    patient: Account


@pytest.fixture
async def people(make_user: MakeUser) -> People:
    return People(
        admin=await make_user(Role.ADMIN, full_name="Ada Admin"),
        doctor=await make_user(Role.DOCTOR, full_name="Dr Hanna <Heart>"),
        patient=await make_user(Role.PATIENT, full_name="Paul Patient"),
    )


def verify(secret: str, received: Any) -> Any:
    """What a receiver does: check the Standard Webhooks signature (raises if it is wrong)."""
    return Webhook(secret).verify(received.body, received.headers)


async def book_one(clinic: Clinic, people: People, start: float = 30) -> dict[str, Any]:
    reply = await book(
        clinic.api, people.patient, start=start, doctor=people.doctor, reason="chest pain"
    )
    assert reply.status_code == 201, reply.text
    appointment: dict[str, Any] = reply.json()
    return appointment


async def test_a_booking_mails_patient_and_doctor_and_signs_a_webhook(
    clinic: Clinic, people: People, smtp_receiver: MailReceiver, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = await clinic.register(people.admin, webhook_receiver)
    appointment = await book_one(clinic, people)
    # Nothing is sent from the request itself: only once the dispatcher runs.
    assert smtp_receiver.messages == []
    assert webhook_receiver.received == []

    await clinic.drain()

    (to_patient,) = smtp_receiver.to(people.patient.email)
    (to_doctor,) = smtp_receiver.to(people.doctor.email)
    assert to_patient["Subject"].startswith("Appointment booked")
    assert "Your appointment with Dr Hanna <Heart> is booked" in body(to_patient, "plain")
    # Names are escaped in HTML; times are in the configured zone (Berlin: CET, +1 h).
    assert "Dr Hanna &lt;Heart&gt;" in body(to_patient, "html")
    assert "Paul Patient has an appointment with you" in body(to_doctor, "plain")
    berlin = datetime.fromisoformat(at(30)).astimezone(ZoneInfo("Europe/Berlin"))
    assert berlin.strftime("%d %B %Y, %H:%M ") + str(berlin.tzname()) in body(to_patient, "plain")
    assert "chest pain" not in body(to_doctor, "plain")

    (delivery,) = webhook_receiver.received
    event = verify(endpoint["secret"], delivery)
    assert delivery.headers["webhook-id"] == event["id"]
    assert event["type"] == "appointment.booked"
    assert event["data"]["appointment_id"] == appointment["id"]
    assert event["data"]["start_at"] == appointment["start_at"]
    # Never clinical free text.
    assert "reason" not in delivery.body.decode()
    assert "chest pain" not in delivery.body.decode()
    assert set(event["data"]) == {
        "appointment_id",
        "patient_id",
        "doctor_id",
        "start_at",
        "end_at",
        "status",
        "version",
    }
    # A signature made with another secret is refused by the receiver's check.
    with pytest.raises(Exception, match="signature"):
        verify("whsec_" + "A" * 43 + "=", delivery)


async def test_reschedule_and_cancel_are_mailed_and_sent_with_their_own_event_ids(
    clinic: Clinic, people: People, smtp_receiver: MailReceiver, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = await clinic.register(people.admin, webhook_receiver)
    appointment = await book_one(clinic, people)
    await clinic.drain()
    moved = await clinic.api.put(
        f"/appointments/{appointment['id']}",
        json={"start_at": at(40), "end_at": at(40.5)},
        headers={**people.patient.headers, "If-Match": '"v1"'},
    )
    assert moved.status_code == 200, moved.text
    await clinic.drain()
    cancelled = await clinic.api.put(
        f"/appointments/{appointment['id']}",
        json={"status": "cancelled", "cancellation_reason": "feeling better"},
        headers={**people.doctor.headers, "If-Match": '"v2"'},
    )
    assert cancelled.status_code == 200, cancelled.text
    await clinic.drain()

    subjects = [mail["Subject"] for mail in smtp_receiver.to(people.patient.email)]
    assert [subject.split()[1] for subject in subjects] == ["booked:", "moved", "cancelled:"]
    assert len(smtp_receiver.to(people.doctor.email)) == 3
    events = [verify(endpoint["secret"], item) for item in webhook_receiver.received]
    assert [e["type"] for e in events] == [
        "appointment.booked",
        "appointment.rescheduled",
        "appointment.cancelled",
    ]
    assert len({e["id"] for e in events}) == 3
    rescheduled = events[1]["data"]
    assert rescheduled["previous_start_at"] == appointment["start_at"]
    assert rescheduled["start_at"] == moved.json()["start_at"]
    assert events[2]["data"]["status"] == "cancelled"


async def test_an_endpoint_gets_only_the_event_types_it_chose(
    clinic: Clinic, people: People, webhook_receiver: WebhookReceiver
) -> None:
    await clinic.register(people.admin, webhook_receiver, types=["appointment.cancelled"])
    appointment = await book_one(clinic, people)
    await clinic.drain()
    assert webhook_receiver.received == []

    reply = await clinic.api.delete(
        f"/appointments/{appointment['id']}", headers=people.patient.headers
    )
    assert reply.status_code == 204
    await clinic.drain()

    assert [item["type"] for item in webhook_receiver.bodies()] == ["appointment.cancelled"]


async def test_the_reminder_is_sent_once_and_never_for_a_cancelled_appointment(
    clinic: Clinic, people: People, smtp_receiver: MailReceiver
) -> None:
    kept = await book_one(clinic, people, start=30)
    dropped = await book_one(clinic, people, start=32)
    await clinic.drain()
    reply = await clinic.api.put(
        f"/appointments/{dropped['id']}",
        json={"status": "cancelled", "cancellation_reason": "feeling better"},
        headers={**people.patient.headers, "If-Match": '"v1"'},
    )
    assert reply.status_code == 200
    await clinic.drain()
    reminders = clinic.sql("SELECT id FROM outbox WHERE kind = 'appointment_reminder'")
    assert len(reminders) == 2  # both booked ahead of the 24 h lead
    smtp_receiver.clear()

    # The reminders fall due (time passes: their not-before moves to now).
    clinic.sql("UPDATE outbox SET available_at = now() WHERE kind = 'appointment_reminder'")
    await clinic.drain()
    # A restart that runs the reminders again (as if the first run was never recorded).
    clinic.sql(
        "UPDATE outbox SET status = 'pending', available_at = now() "
        "WHERE kind = 'appointment_reminder'"
    )
    await clinic.drain()

    (reminder,) = smtp_receiver.to(people.patient.email)
    assert reminder["Subject"].startswith("Reminder")
    assert kept["id"] in body(reminder, "plain")
    assert dropped["id"] not in body(reminder, "plain")
    assert smtp_receiver.to(people.doctor.email) == []


async def test_a_receiver_that_was_down_gets_the_event_when_it_is_back(
    clinic: Clinic, people: People, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = await clinic.register(people.admin, webhook_receiver)
    webhook_receiver.stop()
    await book_one(clinic, people)

    first = await clinic.drain()
    assert first.retried == 1

    webhook_receiver.start()
    clinic.sql("UPDATE outbox SET available_at = now() WHERE kind = 'webhook'")
    second = await clinic.drain()

    assert second.delivered == 1
    (delivery,) = webhook_receiver.received
    assert verify(endpoint["secret"], delivery)["type"] == "appointment.booked"
    log = await clinic.api.get(
        f"/webhooks/{endpoint['id']}/deliveries", headers=people.admin.headers
    )
    (entry,) = log.json()["items"]
    assert entry["status"] == "delivered"
    assert [a["status_code"] for a in entry["attempts"]] == [None, 204]
    assert entry["attempts"][0]["error"]


async def test_a_receiver_answering_500_shows_backoff_in_the_log_and_can_be_redelivered(
    clinic: Clinic, people: People, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = await clinic.register(people.admin, webhook_receiver)
    webhook_receiver.status = 500
    await book_one(clinic, people)

    await clinic.drain()
    log = await clinic.api.get(
        f"/webhooks/{endpoint['id']}/deliveries", headers=people.admin.headers
    )
    (entry,) = log.json()["items"]
    assert entry["status"] == "pending"
    assert [a["status_code"] for a in entry["attempts"]] == [500]
    assert entry["next_attempt_at"] > entry["attempts"][0]["at"]

    webhook_receiver.status = 200
    redeliver = await clinic.api.post(
        f"/webhooks/{endpoint['id']}/deliveries/{entry['id']}/redeliver",
        headers=people.admin.headers,
    )
    assert redeliver.status_code == 202
    await clinic.drain()

    ids = [item.headers["webhook-id"] for item in webhook_receiver.received]
    assert len(ids) == 2
    assert len(set(ids)) == 1  # the same event: the receiver drops the repeat by its id
    log = await clinic.api.get(
        f"/webhooks/{endpoint['id']}/deliveries", headers=people.admin.headers
    )
    (entry,) = log.json()["items"]
    assert entry["status"] == "delivered"
    assert [a["status_code"] for a in entry["attempts"]] == [500, 200]


async def test_an_endpoint_that_keeps_failing_is_disabled_and_the_admins_told(
    clinic: Clinic, people: People, smtp_receiver: MailReceiver, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = await clinic.register(people.admin, webhook_receiver)
    webhook_receiver.status = 503
    for hour in (30, 32, 34):  # the limit in these settings: 3 failures in a row
        await book_one(clinic, people, start=hour)
    await clinic.drain()

    reply = await clinic.api.get(f"/webhooks/{endpoint['id']}", headers=people.admin.headers)
    assert reply.json()["enabled"] is False
    assert "3 failed deliveries in a row" in reply.json()["disabled_reason"]
    (notice,) = smtp_receiver.to(people.admin.email)
    assert notice["Subject"] == f"Webhook endpoint disabled: {webhook_receiver.url}"
    # Nothing more is tried while it is disabled.
    clinic.sql("UPDATE outbox SET available_at = now() WHERE kind = 'webhook'")
    await clinic.drain()
    assert len(webhook_receiver.received) == 3

    enabled = await clinic.api.put(
        f"/webhooks/{endpoint['id']}", json={"enabled": True}, headers=people.admin.headers
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["consecutive_failures"] == 0


async def test_webhook_administration_is_for_admins_and_the_secret_shown_once(
    clinic: Clinic, people: People, webhook_receiver: WebhookReceiver
) -> None:
    refused = await clinic.api.post(
        "/webhooks",
        json={"url": webhook_receiver.url, "event_types": ["appointment.booked"]},
        headers=people.doctor.headers,
    )
    assert_problem(refused, 403)
    created = await clinic.register(people.admin, webhook_receiver)
    assert created["secret"].startswith("whsec_")
    listed = await clinic.api.get("/webhooks", headers=people.admin.headers)
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert "secret" not in listed.json()["items"][0]
    unknown = await clinic.api.post(
        "/webhooks",
        json={"url": webhook_receiver.url, "event_types": ["appointment.exploded"]},
        headers=people.admin.headers,
    )
    assert_problem(unknown, 400)
    gone = await clinic.api.delete(f"/webhooks/{created['id']}", headers=people.admin.headers)
    assert gone.status_code == 204
    assert_problem(
        await clinic.api.get(f"/webhooks/{created['id']}", headers=people.admin.headers), 404
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "http://hooks.example.org/hook",
        "https://user:pw@hooks.example.org/hook",
    ],
)
async def test_production_refuses_webhook_urls_into_the_clinic_network(
    client_for: Any, make_user: MakeUser, url: str
) -> None:
    admin = await make_user(Role.ADMIN)
    production = await client_for(environment="production")

    reply = await production.post(
        "/webhooks",
        json={"url": url, "event_types": ["appointment.booked"]},
        headers=admin.headers,
    )

    problem = assert_problem(reply, 422)
    assert problem["invalid_field"] == "url"
