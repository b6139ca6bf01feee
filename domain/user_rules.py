"""Who may see and change which user: plain functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from domain.errors import Forbidden, InvalidRequest
from domain.model import Caller, Role, User

SELF_EDITABLE = frozenset({"full_name", "password", "email"})
DOCTOR_SELF_EDITABLE = SELF_EDITABLE | {"specialty"}
ADMIN_EDITABLE = frozenset({"full_name", "specialty", "role", "active"})


def sees_full_profile(caller: Caller, user_id: UUID) -> bool:
    return caller.is_admin or caller.id == user_id


def sees_public_profile(caller: Caller, user: User, *, is_their_patient: bool) -> bool:
    """Doctors are bookable, so any signed-in user may see their public profile; a doctor may
    also see the patients they have appointments with."""
    if user.role is Role.DOCTOR and user.active:
        return True
    return caller.role is Role.DOCTOR and is_their_patient


def may_list(caller: Caller, role: Role | None) -> Role | None:
    """Return the role filter to apply; non-admins may only look for doctors."""
    if caller.is_admin:
        return role
    if role not in (None, Role.DOCTOR):
        raise Forbidden("Only admins may list patients or admins.")
    return Role.DOCTOR


def check_update(caller: Caller, target: User, changes: Mapping[str, Any]) -> None:
    """Refuse fields the caller may not change (no mass assignment, no self-promotion)."""
    if caller.is_admin and caller.id != target.id:
        allowed = ADMIN_EDITABLE
    elif caller.id == target.id:
        allowed = DOCTOR_SELF_EDITABLE if target.role is Role.DOCTOR else SELF_EDITABLE
        if caller.is_admin:
            allowed = allowed | {"specialty"}
    else:
        allowed = frozenset()
    refused = sorted(set(changes) - allowed - {"current_password"})
    if refused:
        raise Forbidden(
            "You may not change: " + ", ".join(refused) + ".",
            refused_fields=refused,
        )
    if "password" in changes and "current_password" not in changes:
        raise InvalidRequest("Changing the password needs current_password.")
    if "email" in changes and "current_password" not in changes:
        raise InvalidRequest("Changing the email needs current_password.")
    if "specialty" in changes and changes["specialty"] is not None:
        role = changes.get("role", target.role.value)
        if role != Role.DOCTOR.value:
            raise InvalidRequest("Only doctors have a specialty.")


def ends_sessions(changes: Mapping[str, Any]) -> bool:
    """Changes after which tokens issued earlier must stop working."""
    return bool({"password", "role", "active"} & set(changes))
