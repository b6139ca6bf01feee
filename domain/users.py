"""Reading and changing user accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain import user_rules
from domain.auth import AuthService, email_taken, normalise_email
from domain.errors import Forbidden, NotFound
from domain.model import Caller, Role, User
from domain.ports import EmailTaken, Transactions, UnitOfWork

NOT_FOUND = "No such user."


@dataclass(frozen=True, slots=True)
class Visible:
    """A user together with how much of them the caller may see."""

    user: User
    full: bool

    def to_json(self) -> dict[str, Any]:
        return self.user.to_json() if self.full else self.user.to_public_json()


async def get(tx: Transactions, caller: Caller, user_id: UUID) -> Visible:
    async with tx.unit_of_work() as uow:
        uow.audit.record("user.read", "user", user_id)
        user = await uow.users.get(user_id)
        if user is not None and user.role is Role.PATIENT:
            uow.audit.concerns(user.id)
        if user is None:
            raise NotFound(NOT_FOUND)
        if user_rules.sees_full_profile(caller, user_id):
            return Visible(user, full=True)
        is_their_patient = caller.role is Role.DOCTOR and await _is_patient_of(uow, caller, user)
        if user_rules.sees_public_profile(caller, user, is_their_patient=is_their_patient):
            return Visible(user, full=False)
        raise NotFound(NOT_FOUND)


async def _is_patient_of(uow: UnitOfWork, doctor: Caller, user: User) -> bool:
    if user.role is not Role.PATIENT:
        return False
    return await uow.appointments.have_met(doctor_id=doctor.id, patient_id=user.id)


async def search(
    tx: Transactions,
    caller: Caller,
    *,
    role: Role | None,
    query: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Visible], int]:
    # A list, so it may be a second behind (its count comes with the rows, one statement).
    async with tx.stale_read() as uow:
        uow.audit.record("user.search", "user")
        role = user_rules.may_list(caller, role)
        found, total = await uow.users.find(
            role=role, query=query, limit=limit, offset=offset, active_only=not caller.is_admin
        )
        uow.audit.concerns(*(user.id for user in found if user.role is Role.PATIENT))
        return [Visible(user, full=caller.is_admin) for user in found], total


async def update(
    tx: Transactions, auth: AuthService, caller: Caller, user_id: UUID, changes: dict[str, Any]
) -> Visible:
    async with tx.unit_of_work() as uow:
        uow.audit.record("user.update", "user", user_id)
        target = await uow.users.get(user_id)
        if target is not None and target.role is Role.PATIENT:
            uow.audit.concerns(target.id)
        if target is None or not (caller.is_admin or caller.id == user_id):
            raise NotFound(NOT_FOUND)
        user_rules.check_update(caller, target, changes)
        columns = {key: value for key, value in changes.items() if key != "current_password"}
        if "password" in changes:
            auth.check_password(changes["password"])
        if "password" in changes or "email" in changes:
            stored = await uow.users.password_hash(user_id)
            if not await auth.hasher.verify(changes["current_password"], stored):
                raise Forbidden("The current password is incorrect.")
        if "password" in changes:
            columns["password_hash"] = await auth.hasher.hash(columns.pop("password"))
        new_email = None
        if "email" in changes:
            new_email = normalise_email(columns.pop("email"))
            if new_email != target.email:
                # Unverified until the code mailed to the new address comes back.
                columns["email"] = new_email
                columns["email_verified_at"] = None
        if user_rules.ends_sessions(changes):
            columns["bump_sessions"] = True
            await auth.revoke_sessions(uow, user_id)
        try:
            updated = await uow.users.update(user_id, columns)
        except EmailTaken:
            raise email_taken() from None
        assert updated is not None
        if "email" in columns and auth.accounts is not None:
            await auth.accounts.send_verification(uow, updated, updated.email)
            await auth.accounts.notify_email_change(uow, updated, target.email)
        await uow.commit()
        return Visible(updated, full=True)


async def bootstrap_admin(
    tx: Transactions, auth: AuthService, *, email: str, password: str, full_name: str
) -> tuple[User, bool]:
    """Create the first admin, or promote an existing account; returns (user, created)."""
    async with tx.unit_of_work() as uow:
        auth.check_password(password)
        found = await uow.users.get_with_password_hash(email.strip().lower())
        if found is not None:
            user, _ = found
            if user.role is not Role.ADMIN:
                user = (
                    await uow.users.update(
                        user.id, {"role": Role.ADMIN.value, "bump_sessions": True}
                    )
                    or user
                )
            await uow.commit()
            return user, False
        try:
            user = await uow.users.add(
                email=email.strip().lower(),
                password_hash=await auth.hasher.hash(password),
                full_name=full_name,
                role=Role.ADMIN,
                # Appointed by whoever runs the service, not signed up: nothing to prove.
                email_verified=True,
            )
        except EmailTaken:
            raise email_taken() from None
        await uow.commit()
        return user, True
