"""Shared fixtures: one embedded PostgreSQL per test session, a fresh schema, a clean slate
per test.

Each test that touches the database starts from empty tables (TRUNCATE is a few milliseconds
for tables this small) and commits for real, so concurrency tests see what production sees.
The app runs in-process through httpx's ASGI transport with response validation on, so every
reply is also checked against the contract.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from domain.model import Role
from modelserver import launcher
from modelserver.launcher import free_port
from persistence.schema import metadata
from service import embedded_db, migrate
from service.app import create_app
from service.settings import Settings
from tests.contract.people import ALWAYS_OPEN
from tests.mail_receiver import MailReceiver

ROOT = Path(__file__).resolve().parent.parent
# One database per test process: several runs (developers, CI) may share the embedded server.
TEST_DATABASE = f"medai_test_{os.getpid()}"
PASSWORD = "correct horse battery staple"
TEST_BCRYPT_COST = 4
_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(TEST_BCRYPT_COST)).decode()


def test_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "jwt_secret": "test-secret-" + "x" * 40,
        "bcrypt_cost": TEST_BCRYPT_COST,
        "validate_responses": True,
        "swagger_ui": False,
        "data_dir": ROOT / "var" / "test",
        # Doctors and admins sign in with a password alone here, as before MFA; the second
        # factor and the "required" policy (the production default) have their own tests
        # (tests/test_mfa.py), which build apps with mfa_policy="required".
        "mfa_policy": "optional",
    }
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(scope="session")
def postgres() -> embedded_db.EmbeddedPostgres:
    # Stopped by the wheel's own atexit hook when the test process ends.
    return embedded_db.start(ROOT / "var" / "test")


@pytest.fixture(scope="session")
def database_url(postgres: embedded_db.EmbeddedPostgres) -> Iterator[str]:
    """A freshly created and migrated test database."""
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    url = postgres.libpq_url(TEST_DATABASE)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(postgres.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DATABASE}" WITH (FORCE)')


_TABLES = ", ".join(table.name for table in reversed(metadata.sorted_tables))


def truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def model_server() -> Iterator[str]:
    """The reference model server as a child process, reached over loopback HTTP through the
    same client as in production; its base URL."""
    server = launcher.start_background(port=free_port())
    yield server.base_url
    server.stop()


@pytest.fixture(scope="session")
async def app(database_url: str, model_server: str) -> AsyncIterator[Any]:
    application = create_app(test_settings(ml_service_url=model_server), database_url)
    await application.runtime.start()
    yield application
    await application.runtime.stop()


@pytest.fixture
async def client_for(
    database_url: str, model_server: str
) -> AsyncIterator[Callable[..., Awaitable[httpx.AsyncClient]]]:
    """Clients of extra apps built with other settings (limits, CORS…), on the same database
    and, unless ``ml_service_url`` says otherwise, the same model server."""
    started: list[tuple[Any, httpx.AsyncClient]] = []

    async def build(**overrides: Any) -> httpx.AsyncClient:
        settings = test_settings(**{"ml_service_url": model_server, **overrides})
        application = create_app(settings, database_url)
        await application.runtime.start()
        transport = httpx.ASGITransport(app=application)
        extra = httpx.AsyncClient(transport=transport, base_url="http://medai.test")
        started.append((application, extra))
        return extra

    yield build
    for application, extra in started:
        await extra.aclose()
        await application.runtime.stop()


@pytest.fixture
async def client(app: Any, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    truncate_all(database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as c:
        yield c


@dataclass
class Account:
    id: str
    email: str
    role: Role
    password: str = PASSWORD
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_user(client: httpx.AsyncClient, database_url: str) -> MakeUser:
    """Create a user directly in the database (any role) and sign them in through the API.
    Doctors work around the clock unless a test gives them other hours: most tests book at
    whatever time suits them, and the availability rules have their own tests
    (tests/scheduling)."""

    async def make(
        role: Role | str = Role.PATIENT,
        *,
        full_name: str | None = None,
        specialty: str | None = None,
        active: bool = True,
        login: bool = True,
        availability: dict[str, Any] | None = ALWAYS_OPEN,
        verified: bool = True,
    ) -> Account:
        """``availability``: a doctor's (``ALWAYS_OPEN`` unless given; None: the default the
        service gives a doctor without one)."""
        role = Role(role)
        email = f"{role.value}-{uuid.uuid4().hex[:10]}@example.org"
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute(
                # Verified unless asked otherwise: as if the verification mail was answered
                # (sign-ups through the API start unverified; tests/test_accounts.py).
                "INSERT INTO users "
                "(email, password_hash, full_name, role, specialty, active, email_verified_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id",
                (
                    email,
                    _HASH,
                    full_name or f"Test {role.value.title()} {uuid.uuid4().hex[:6]}",
                    role.value,
                    specialty if specialty or role is not Role.DOCTOR else "General practice",
                    active,
                    verified,
                ),
            )
            row = await cur.fetchone()
            assert row is not None
            if role is Role.DOCTOR and availability is not None:
                schedule = {k: v for k, v in availability.items() if k != "time_zone"}
                await conn.execute(
                    "INSERT INTO doctor_availability (doctor_id, time_zone, schedule) "
                    "VALUES (%s, %s, %s)",
                    (row[0], availability["time_zone"], Jsonb(schedule)),
                )
        account = Account(id=str(row[0]), email=email, role=role)
        if login and active:
            reply = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            account.token = reply.json()["access_token"]
        return account

    return make


def end_refresh_grace(database_url: str) -> None:
    """Move every refresh exchange a minute into the past, beyond the reuse grace (10 s), as if
    the client had waited: a spent token presented now is reuse, not a concurrent refresh."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE refresh_tokens SET spent_at = spent_at - interval '1 minute' "
            "WHERE spent_at IS NOT NULL"
        )


def assert_problem(reply: httpx.Response, status: int) -> dict[str, Any]:
    """The reply is an RFC 9457 problem with this status."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers
    body: dict[str, Any] = reply.json()
    assert body["status"] == status
    assert body["title"]
    return body


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[MailReceiver]:
    """A real SMTP server on loopback for the session (tests/mail_receiver.py)."""
    receiver = MailReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_receiver(smtp_server: MailReceiver) -> MailReceiver:
    """The session's SMTP server, emptied and accepting every recipient, up for this test."""
    smtp_server.stop()
    smtp_server.clear()
    smtp_server.start()
    return smtp_server
