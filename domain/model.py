"""Entities and value objects. Imports nothing of the project: every layer may use them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

# How the API writes JSON, here and in ``service.jsonifier``: UTC timestamps end in ``Z`` like
# ``utc_iso``'s. Every ``to_json`` of a reply follows one convention: ids and timestamps stay
# ``UUID`` and UTC ``datetime``, and the jsonifier writes them (in C, as the API spells them).
JSON_OPTIONS = orjson.OPT_UTC_Z


def utc_iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: what every timestamp in the API looks like."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Role(enum.StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making the request, as established by the security layer."""

    id: UUID
    role: Role
    # Read with the session on every request; a patient cannot book until it is true.
    email_verified: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def from_token_info(cls, token_info: dict[str, Any]) -> Caller:
        return cls(
            id=UUID(token_info["sub"]),
            role=Role(token_info["role"]),
            email_verified=bool(token_info.get("email_verified", True)),
        )


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    full_name: str
    role: Role
    specialty: str | None
    active: bool
    session_version: int
    created_at: datetime
    updated_at: datetime
    email_verified: bool = True

    def to_json(self) -> dict[str, Any]:
        """The full profile: for the user themself and for admins."""
        return {
            "id": self.id,
            "email": self.email,
            "full_name": self.full_name,
            "role": self.role.value,
            "specialty": self.specialty,
            "active": self.active,
            "email_verified": self.email_verified,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def to_public_json(self) -> dict[str, Any]:
        """What any signed-in user may see of a doctor (or a doctor of their patient)."""
        return {
            "id": self.id,
            "full_name": self.full_name,
            "role": self.role.value,
            "specialty": self.specialty,
        }


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    user_id: UUID
    role: Role

    def to_json(self, *, with_refresh_token: bool = True) -> dict[str, Any]:
        """The token reply; without the refresh token when it travels in a cookie instead."""
        reply: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_expires_in": self.refresh_expires_in,
            "user_id": str(self.user_id),
            "role": self.role.value,
        }
        if with_refresh_token:
            reply["refresh_token"] = self.refresh_token
        return reply
