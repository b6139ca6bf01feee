"""The accounts the contract tests sign in as, created the way real ones are.

The admin comes from configuration (``MEDAI_ADMIN_EMAIL``/``MEDAI_ADMIN_PASSWORD``, applied by
``medai serve`` at start); the others sign up through the API and the admin appoints the doctor.
Schemathesis signs each of them in itself (a Web Fuzzing Commons auth document), so a token
that a fuzzed request revokes (a role or password change) is replaced by a fresh sign-in.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

# The two patients are peers in schemathesis.toml: one's reads are replayed as the other's.
PATIENT_A, PATIENT_B, DOCTOR, ADMIN = "patient-a", "patient-b", "doctor", "admin"
# Where bookings go, in days from now: the gate seeds each run's appointments from the first
# (one a day, 09:00 UTC), the schemathesis hooks book fuzzed slots from the second on.
SEEDED_FROM_DAYS, FUZZED_FROM_DAYS = 30, 100
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Every hour of every day, no notice, two years ahead: availability that refuses no time.
ALWAYS_OPEN = {
    "time_zone": "UTC",
    "weekly_hours": [{"day": day, "start": "00:00", "end": "24:00"} for day in DAYS],
    "appointment_minutes": [30],
    "buffer_minutes": 0,
    "minimum_notice_minutes": 0,
    "horizon_days": 730,
}


@dataclass
class Person:
    name: str
    email: str
    password: str
    id: str = ""

    def bearer(self, client: httpx.Client) -> dict[str, str]:
        reply = client.post("/auth/login", json={"email": self.email, "password": self.password})
        reply.raise_for_status()
        return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _person(name: str) -> Person:
    return Person(name, f"{name}-{secrets.token_hex(4)}@example.org", secrets.token_urlsafe(18))


def open_around_the_clock(conn: psycopg.Connection[Any], doctor_id: str) -> None:
    """Give a doctor inserted straight into the database the ``ALWAYS_OPEN`` availability."""
    schedule = {k: v for k, v in ALWAYS_OPEN.items() if k != "time_zone"}
    conn.execute(
        "INSERT INTO doctor_availability (doctor_id, time_zone, schedule) VALUES (%s, 'UTC', %s)",
        (doctor_id, Jsonb(schedule)),
    )


def admin_account() -> Person:
    return _person(ADMIN)


def enrol(base_url: str, admin: Person, mailbox: Path) -> list[Person]:
    """Sign up two patients and a doctor, each verifying their address with the code the
    service mailed (to its development sink, ``mailbox``); return everyone, least privileged
    first."""
    patient_a, patient_b, doctor = _person(PATIENT_A), _person(PATIENT_B), _person(DOCTOR)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for person in (patient_a, patient_b, doctor):
            person.id = _register(client, person)
        for person in (patient_a, patient_b, doctor):
            code = verification_code(person.email, mailbox)
            client.post("/auth/email-verification", json={"token": code}).raise_for_status()
        as_admin = admin.bearer(client)
        me = client.get("/users/me", headers=as_admin)
        me.raise_for_status()
        admin.id = str(me.json()["id"])
        appointed = client.put(
            f"/users/{doctor.id}",
            json={"role": "doctor", "specialty": "Cardiology"},
            headers=as_admin,
        )
        appointed.raise_for_status()
        # The gate's doctor works around the clock and takes bookings up to two years ahead, so
        # the slots the hooks draw (months ahead, any hour) fit the availability; the rules
        # themselves are tested in tests/scheduling.
        opened = client.put(
            f"/doctors/{doctor.id}/availability",
            json=ALWAYS_OPEN,
            headers={**doctor.bearer(client), "If-Match": '"v1"'},
        )
        opened.raise_for_status()
    return [patient_a, patient_b, doctor, admin]


_CODE = re.compile(r"code: (\S+)")


def verification_code(email: str, *mailboxes: Path, deadline: float = 60.0) -> str:
    """The code of the verification mail to ``email`` in a development mail sink (a folder of
    ``.eml`` files the service's outbox dispatcher writes after the sign-up commits; with
    several instances, whichever instance's dispatcher took it)."""
    give_up = time.monotonic() + deadline
    while True:
        paths = [
            path for mailbox in mailboxes if mailbox.is_dir() for path in mailbox.glob("*.eml")
        ]
        for path in sorted(paths):
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            assert isinstance(mail, EmailMessage)
            part = mail.get_body(preferencelist=("plain",))
            if mail["To"] == email and isinstance(part, EmailMessage):
                found = _CODE.search(part.get_content())
                if found:
                    return found.group(1)
        if time.monotonic() > give_up:
            raise AssertionError(f"no verification mail to {email} in {mailboxes}")
        time.sleep(0.2)


def _register(client: httpx.Client, person: Person) -> str:
    reply = client.post(
        "/auth/register",
        json={"email": person.email, "password": person.password, "full_name": person.name},
    )
    reply.raise_for_status()
    return str(reply.json()["id"])


def book(
    base_url: str, patient: Person, doctor: Person, count: int, first_day: int = 0
) -> list[str]:
    """``count`` half-hour appointments of ``patient`` with ``doctor``, one a day, starting a
    month and ``first_day`` days ahead."""
    first = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    first += timedelta(days=SEEDED_FROM_DAYS + first_day)
    ids = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        headers = patient.bearer(client)
        for day in range(count):
            start = first + timedelta(days=day)
            reply = client.post(
                "/appointments",
                json={
                    "doctor_id": doctor.id,
                    "start_at": start.isoformat(),
                    "end_at": (start + timedelta(minutes=30)).isoformat(),
                    "reason": "Seeded by the contract gate",
                },
                headers=headers,
            )
            reply.raise_for_status()
            ids.append(str(reply.json()["id"]))
    return ids


def write_auth_document(people: list[Person], path: Path) -> Path:
    """A Web Fuzzing Commons auth document: how Schemathesis signs in as each person."""
    document: dict[str, Any] = {
        "schemaVersion": "0.2.0",
        "authTemplate": {
            "loginEndpointAuth": {
                "endpoint": "/auth/login",
                "verb": "POST",
                "contentType": "application/json",
                "token": {
                    "extractFrom": "body",
                    "extractSelector": "/access_token",
                    "sendIn": "header",
                    "sendName": "Authorization",
                    "sendTemplate": "Bearer {token}",
                },
            }
        },
        "auth": [
            {
                "name": person.name,
                "loginEndpointAuth": {
                    "payloadUserPwd": {
                        "username": person.email,
                        "password": person.password,
                        "usernameField": "email",
                        "passwordField": "password",
                    }
                },
            }
            for person in people
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    path.chmod(0o600)
    return path


def write_dictionary(values: list[str], path: Path) -> Path:
    """A libFuzzer-style dictionary: values Schemathesis mixes into what it generates, so that
    some requests name objects that exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'"{value}"\n' for value in values))
    return path
