"""What the use cases need from storage, stated by the domain (``typing.Protocol``).

``persistence`` implements these (PostgreSQL); ``tests/unit/fakes.py`` implements them in
memory. The domain imports neither: a use case is handed a ``Transactions`` and opens the unit
of work it needs itself, read-only (``single_read``) or read-write (``unit_of_work``), so the
rule "one statement only in a single read" lives beside the code that obeys it.

Rows come back as mappings keyed by column name (``Row``); the list queries are the query
objects of ``domain.queries``, one per resource, keyed by field name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from domain.accounts import AccountTokenStore
from domain.audit import AuditEvent, AuditTrail, RequestContext
from domain.availability import AvailabilityStore

# Raised by the store; defined with the errors, named here for the implementations.
from domain.errors import Contention as Contention
from domain.errors import DatabaseUnavailable as DatabaseUnavailable
from domain.mfa import MfaStore
from domain.model import Role, User
from domain.outbox import Outbox
from domain.queries import AppointmentQuery, AuditQuery, RecordQuery
from domain.webhooks import WebhookEndpoints

Row = Mapping[str, Any]

# --- what storage may raise that a use case (or the error handlers) act on --------------------


class SlotTaken(Exception):
    """The store refused the times: they overlap a slot ``party`` ("doctor" or "patient")
    already holds."""

    def __init__(self, party: str) -> None:
        super().__init__(party)
        self.party = party


class EmailTaken(Exception):
    """Another account already has this email."""


# --- records the repositories hand back that are not plain rows ------------------------------


@dataclass(frozen=True, slots=True)
class StoredRefreshToken:
    id: UUID
    user_id: UUID
    family_id: UUID
    expires_at: datetime
    family_expires_at: datetime
    spent: bool
    spent_at: datetime | None  # when it was exchanged: the start of the reuse grace
    revoked: bool
    now: datetime


@dataclass(frozen=True, slots=True)
class KeyState:
    """One throttle counter as the database holds it now."""

    failures: int  # in the open window (attempts, for sign-ups)
    blocked_for: int  # seconds until the key's delay ends; 0: none
    window_left: int  # seconds until its window ends


# --- repositories ------------------------------------------------------------------------------


class UserRepository(Protocol):
    async def get(self, user_id: UUID) -> User | None: ...
    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None: ...
    async def password_hash(self, user_id: UUID) -> str | None: ...
    async def session_state(self, user_id: UUID, session_id: UUID) -> Row | None: ...
    async def add(
        self,
        *,
        email: str,
        password_hash: str,
        full_name: str,
        role: Role,
        specialty: str | None = None,
        email_verified: bool = False,
    ) -> User:
        """``EmailTaken`` if another account has ``email``."""
        ...

    async def update(self, user_id: UUID, changes: Mapping[str, Any]) -> User | None:
        """``EmailTaken`` if the change gives it another account's email."""
        ...

    async def find(
        self, *, role: Role | None, query: str | None, limit: int, offset: int, active_only: bool
    ) -> tuple[list[User], int]: ...
    async def count_admins(self) -> int: ...
    async def mark_email_verified(self, user_id: UUID, email: str) -> bool: ...
    async def email_verified(self, user_id: UUID) -> bool: ...
    async def set_password(self, user_id: UUID, password_hash: str) -> User | None: ...


class RefreshTokenRepository(Protocol):
    async def start_session(
        self, user_id: UUID, lifetime_seconds: int, amr: Sequence[str] = ("pwd",)
    ) -> tuple[UUID, datetime]: ...
    async def session_amr(self, family_id: UUID) -> tuple[str, ...]: ...
    async def add(
        self,
        *,
        user_id: UUID,
        family_id: UUID,
        token_hash: bytes,
        family_expires_at: datetime,
        idle_seconds: int,
    ) -> None: ...
    async def lock(self, token_hash: bytes) -> StoredRefreshToken | None: ...
    async def mark_spent(self, token_id: UUID) -> None: ...
    async def revoke_family(self, family_id: UUID) -> int: ...
    async def revoke_all_for_user(self, user_id: UUID) -> int: ...


class LoginThrottleRepository(Protocol):
    async def state(self, keys: Sequence[str], window_seconds: int) -> dict[str, KeyState]: ...
    async def count_failure(
        self,
        keys: Sequence[str],
        window_seconds: int,
        *,
        delayed: Sequence[tuple[str, int]] = (),
        first_delay: int = 0,
    ) -> dict[str, KeyState]: ...
    async def forget(self, keys: Sequence[str]) -> None: ...


class AuditRepository(Protocol):
    async def append(self, context: RequestContext, events: Sequence[AuditEvent]) -> None: ...
    async def find(self, query: AuditQuery) -> Sequence[Row]: ...


class AppointmentRepository(Protocol):
    async def add(
        self,
        *,
        patient_id: UUID,
        doctor_id: UUID,
        booked_by: UUID,
        start_at: datetime,
        end_at: datetime,
        reason: str | None,
    ) -> Row:
        """The booking as ``get`` returns it; ``SlotTaken`` if the times collide."""
        ...

    async def get(self, appointment_id: UUID) -> Row | None: ...
    async def lock(self, appointment_id: UUID) -> Row | None:
        """The current row, locked until the unit of work ends."""
        ...

    async def update(
        self,
        appointment_id: UUID,
        changes: Mapping[str, Any],
        *,
        parties: tuple[UUID, UUID],
        start_at: datetime,
        end_at: datetime,
    ) -> Row:
        """The changed row as ``get`` returns it; ``SlotTaken`` if the new times collide."""
        ...

    async def soft_delete(self, appointment_id: UUID) -> bool: ...
    async def find(self, query: AppointmentQuery) -> Sequence[Row]: ...
    async def first_overlap(
        self, party: str, party_id: UUID, start_at: datetime, end_at: datetime
    ) -> Row | None: ...
    async def have_met(self, *, doctor_id: UUID, patient_id: UUID) -> bool: ...


class IdempotencyRepository(Protocol):
    async def claim(self, user_id: UUID, key: str, request_hash: bytes) -> bool: ...
    async def stored(self, user_id: UUID, key: str) -> Row | None: ...
    async def record(
        self, user_id: UUID, key: str, *, status: int, response: str, resource_id: UUID
    ) -> None: ...


class InferenceRecordRepository(Protocol):
    async def add_pending(
        self,
        *,
        requested_by: UUID,
        patient_id: UUID | None,
        appointment_id: UUID | None,
        model_name: str,
        input_sha256: str,
    ) -> UUID: ...
    async def succeed(
        self,
        record_id: UUID,
        *,
        model_version: str | None,
        outputs: Mapping[str, Any],
        upstream_status: int,
        latency_ms: float,
    ) -> bool: ...
    async def fail(
        self,
        record_id: UUID,
        *,
        error_class: str,
        upstream_status: int | None,
        latency_ms: float | None,
        error_reason: str | None = None,
    ) -> bool: ...
    async def get(self, record_id: UUID) -> Row | None: ...
    async def find(self, query: RecordQuery) -> Sequence[Row]: ...
    async def lock_requester(self, user_id: UUID) -> None: ...
    async def seconds_until_room(
        self, user_id: UUID, limit: int, window_seconds: int
    ) -> int | None: ...


# --- the unit of work and where use cases get one --------------------------------------------


class UnitOfWork(Protocol):
    """One transaction: everything a use case wrote commits together or not at all. It rolls
    back unless ``commit()`` was called; ``audit`` collects the request's audit events, which
    are written with the change on commit and otherwise when the unit ends, settled by
    ``AuditTrail.settle`` from how it ended."""

    audit: AuditTrail

    @property
    def users(self) -> UserRepository: ...
    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...
    @property
    def login_throttle(self) -> LoginThrottleRepository: ...
    @property
    def audit_log(self) -> AuditRepository: ...
    @property
    def appointments(self) -> AppointmentRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def inference_records(self) -> InferenceRecordRepository: ...
    @property
    def availability(self) -> AvailabilityStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def webhooks(self) -> WebhookEndpoints: ...
    @property
    def mfa(self) -> MfaStore: ...
    @property
    def account_tokens(self) -> AccountTokenStore: ...

    async def commit(self) -> None: ...
    async def rollback(self) -> None:
        """Abandon what this unit did so far; it can go on with a fresh transaction."""
        ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Transactions(Protocol):
    """Units of work for one request (its audit events attributed to whoever made it)."""

    def unit_of_work(self) -> UnitOfWork:
        """Read-write: one transaction, committed by ``commit()``."""
        ...

    def single_read(self) -> UnitOfWork:
        """For a use case that reads with ONE statement: no transaction around it (the
        statement is atomic by itself, BEGIN and COMMIT would be two round trips for nothing);
        its audit event, if any, commits by itself. Two statements here would not share a
        snapshot, so a use case that reads twice takes ``unit_of_work``. It cannot commit."""
        ...

    def stale_read(self) -> UnitOfWork:
        """A ``single_read`` that may be served by a read replica, so what it sees may be
        behind the primary by up to the configured bound (about a second), but never behind a
        write the caller itself made (the implementation routes such a caller to the primary).
        For lists and searches only, where a second's staleness is harmless: never for a read
        that decides a write, checks a session or answers a get by id. Its audit event, if any,
        is written on the primary. Without a replica it is ``single_read``."""
        ...
