"""Reading an appointment or a page of them is one statement and one audit INSERT, with no
transaction around them (``Database.single_read``): what the hot paths cost, kept honest."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from domain.audit import RequestContext
from domain.model import Role
from persistence.audit import AuditRepository
from persistence.db import DatabaseUnavailable
from persistence.executor import Executor
from tests.appointments.conftest import book
from tests.conftest import MakeUser, assert_problem


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, str]]:
    """(ran in autocommit, SQL) of every statement units of work send, from now on."""
    seen: list[tuple[bool, str]] = []
    original = Executor._execute

    async def spy(self: Executor, text: str, params: dict[str, Any]) -> Any:
        seen.append((self.connection.autocommit, text))
        return await original(self, text, params)

    monkeypatch.setattr(Executor, "_execute", spy)
    return seen


@pytest.mark.parametrize("read", ["list", "get"])
async def test_a_read_is_one_statement_and_its_audit_event_commits_by_itself(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    database_url: str,
    statements: list[tuple[bool, str]],
    read: str,
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    location = (await book(client, patient, start=1, doctor=doctor)).headers["location"]
    statements.clear()
    reply = await client.get(
        "/appointments" if read == "list" else location, headers=doctor.headers
    )
    assert reply.status_code == 200, reply.text
    # The session check, the read, the audit event: each commits by itself (no BEGIN/COMMIT).
    assert [autocommit for autocommit, _ in statements] == [True, True, True]
    session_check, read_sql, audit_sql = (text for _, text in statements)
    assert "JOIN sessions" in session_check
    assert read_sql.lstrip().upper().startswith("SELECT")
    assert "appointments" in read_sql
    assert audit_sql.startswith("INSERT INTO audit_events")
    action = "appointment.search" if read == "list" else "appointment.read"
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT actor_id::text, outcome, patient_ids::text[] FROM audit_events"
            " WHERE action = %s",
            (action,),
        ).fetchone()
    assert row == (doctor.id, 200, [patient.id])


@pytest.mark.parametrize("read", ["list", "get"])
async def test_a_read_that_cannot_be_put_on_record_is_not_answered(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    monkeypatch: pytest.MonkeyPatch,
    read: str,
) -> None:
    doctor, patient = await make_user(Role.DOCTOR), await make_user()
    location = (await book(client, patient, start=1, doctor=doctor)).headers["location"]

    async def failing_append(*_args: Any) -> None:
        raise psycopg.OperationalError("the audit INSERT failed")

    monkeypatch.setattr(AuditRepository, "append", failing_append)
    reply = await client.get(
        "/appointments" if read == "list" else location, headers=doctor.headers
    )
    assert_problem(reply, 503)
    assert patient.id not in reply.text


async def test_after_a_single_read_that_failed_units_of_work_still_run_in_a_transaction(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_append(*_args: Any) -> None:
        raise psycopg.OperationalError("the audit INSERT failed")

    database = app.runtime.database
    with monkeypatch.context() as patched:
        patched.setattr(AuditRepository, "append", failing_append)
        with pytest.raises(DatabaseUnavailable):
            async with database.single_read(RequestContext()) as uow:
                uow.audit.record("appointment.read", "appointment")
    # The failed read's connection went back in autocommit; whichever connection the next
    # units get, a SELECT ... FOR UPDATE there must hold its lock until the unit ends.
    for _ in range(database.pool.max_size):
        async with database.unit_of_work() as uow:
            await uow.fetch_value_text("SELECT 1")
            assert not uow.connection.autocommit
            assert uow.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


async def test_a_unit_of_work_sets_its_own_mode_whatever_the_last_borrower_left(
    app: Any,
) -> None:
    database = app.runtime.database
    async with database.single_read() as read:
        left = read.connection
    await left.set_autocommit(True)  # as a single read leaves it
    for _ in range(database.pool.max_size):
        async with database.unit_of_work() as uow:
            assert not uow.connection.autocommit
