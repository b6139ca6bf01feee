"""The audit trail of a request: who did what to which record, from where, and the outcome.

A use case opens an event with ``uow.audit.record(...)`` before it looks anything up, and adds
the patients concerned once it knows them; the unit of work writes the event when it ends,
with the outcome taken from how it ended (the success status, or the error's status and
detail). A change and its audit event commit together; a read or a refusal is written after
(a read whose event cannot be written is not answered: ``UnitOfWork._write_audit``).
Events never carry passwords, tokens or clinical free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.errors import DatabaseUnavailable, DomainError


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from; the actor is filled in once authenticated."""

    actor_id: UUID | None = None
    actor_role: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(slots=True)
class AuditEvent:
    action: str
    resource_type: str | None
    resource_id: str | None
    success_status: int
    patient_ids: set[UUID] = field(default_factory=set)
    actor_id: UUID | None = None
    actor_role: str | None = None
    outcome: int | None = None
    reason: str | None = None
    written: bool = False


class AuditTrail:
    """The events of one unit of work (usually one)."""

    def __init__(self, context: RequestContext | None) -> None:
        self.context = context or RequestContext()
        self.events: list[AuditEvent] = []

    def record(
        self,
        action: str,
        resource_type: str | None = None,
        resource_id: Any = None,
        *,
        patients: Iterable[UUID] = (),
        success_status: int = 200,
    ) -> AuditEvent:
        event = AuditEvent(
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            success_status=success_status,
            patient_ids=set(patients),
        )
        self.events.append(event)
        return event

    def concerns(self, *patients: UUID) -> None:
        """Add patients to the latest event (e.g. once the record is loaded)."""
        if self.events:
            self.events[-1].patient_ids.update(patients)

    def identify(self, actor_id: UUID, actor_role: str | None) -> None:
        """The actor, when the request itself establishes it (sign-in)."""
        if self.events:
            self.events[-1].actor_id = actor_id
            self.events[-1].actor_role = actor_role

    def fail(self, outcome: int, reason: str) -> None:
        """Settle the latest event as refused, when the use case commits before raising
        (a failed sign-in must count even though the request fails)."""
        if self.events:
            self.events[-1].outcome, self.events[-1].reason = outcome, reason

    def settle(self, exc: BaseException | None) -> list[AuditEvent]:
        """``take`` with the outcome of a unit of work that ended by ``exc`` (None: it did
        not fail): a refusal's status and detail, 503 for an outage, 500 for anything else."""
        if exc is None:
            return self.take()
        if isinstance(exc, DomainError):
            return self.take(exc.status, exc.detail)
        return self.take(503 if isinstance(exc, DatabaseUnavailable) else 500)

    def take(self, outcome: int | None = None, reason: str | None = None) -> list[AuditEvent]:
        """Settle what is unsettled (``None``: each event's success status) and hand over
        every event not yet written."""
        for event in self.events:
            if event.outcome is None:
                failed = outcome is not None and outcome >= 400
                event.outcome = outcome if failed else event.success_status
                event.reason = reason if failed else None
        unwritten = [event for event in self.events if not event.written]
        for event in unwritten:
            event.written = True
        return unwritten
