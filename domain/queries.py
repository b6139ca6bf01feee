"""The list queries, one object per resource, keyed by field name.

A field left at its default (``None``, an empty tuple) does not filter. Each filter field has
one condition of the same name in the store's SQL builder (``persistence.listing``), so adding
a filter is: the spec, the handler that reads it, a field here, a condition there. ``scope_*``
fields come from who is asking (set by the use case), the others from the client; both apply,
so a filter can only narrow what the caller may see. ``after`` (the sort key the page starts
after), ``limit`` and ``descending`` shape the page and are not filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

PAGE_FIELDS = frozenset({"after", "limit", "descending"})


@dataclass(frozen=True, slots=True)
class AppointmentQuery:
    scope_patient_id: UUID | None = None
    scope_doctor_id: UUID | None = None
    doctor_id: UUID | None = None
    patient_id: UUID | None = None
    statuses: tuple[str, ...] = ()
    window_from: datetime | None = None
    window_to: datetime | None = None
    created_after: datetime | None = None
    descending: bool = False
    after: tuple[datetime, UUID] | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Newest first."""

    actor_id: UUID | None = None
    patient_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, int] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Inference records, newest first."""

    scope_requested_by: UUID | None = None
    model_name: str | None = None
    patient_id: UUID | None = None
    after: tuple[datetime, UUID] | None = None
    limit: int = 20
