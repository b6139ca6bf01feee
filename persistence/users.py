"""Users: lookups by id and email, registration, profile and account changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg.errors
from sqlalchemy import bindparam, case, func, select

from domain.model import Role, User
from domain.ports import EmailTaken
from persistence.executor import Executor
from persistence.schema import sessions, users
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow


_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.full_name,
    users.c.role,
    users.c.specialty,
    users.c.active,
    users.c.session_version,
    users.c.created_at,
    users.c.updated_at,
    users.c.email_verified_at.is_not(None).label("email_verified"),
)

_BY_ID = Sql(select(*_COLUMNS).where(users.c.id == bindparam("id")))
_CREDENTIALS_BY_EMAIL = Sql(
    select(*_COLUMNS, users.c.password_hash).where(users.c.email == bindparam("email"))
)
_PASSWORD_HASH = Sql(select(users.c.password_hash).where(users.c.id == bindparam("id")))
_SESSION_STATE = Sql(
    select(
        users.c.role,
        users.c.active,
        users.c.session_version,
        (sessions.c.revoked_at.is_(None) & (sessions.c.expires_at > func.now())).label(
            "session_live"
        ),
        users.c.email_verified_at.is_not(None).label("email_verified"),
    )
    .select_from(users.join(sessions, sessions.c.user_id == users.c.id))
    .where(users.c.id == bindparam("id"), sessions.c.id == bindparam("session_id"))
)
_INSERT = Sql(
    users.insert()
    .values(
        email=bindparam("email"),
        password_hash=bindparam("password_hash"),
        full_name=bindparam("full_name"),
        role=bindparam("role"),
        specialty=bindparam("specialty"),
        email_verified_at=case((bindparam("verified"), func.now()), else_=None),
    )
    .returning(*_COLUMNS)
)
_MARK_VERIFIED = Sql(
    users.update()
    .where(
        users.c.id == bindparam("id"),
        users.c.email == bindparam("email"),
    )
    .values(email_verified_at=func.coalesce(users.c.email_verified_at, func.now()))
)
_EMAIL_VERIFIED = Sql(
    select(users.c.email_verified_at.is_not(None).label("verified")).where(
        users.c.id == bindparam("id")
    )
)
_SET_PASSWORD = Sql(
    users.update()
    .where(users.c.id == bindparam("id"))
    .values(
        password_hash=bindparam("password_hash"),
        session_version=users.c.session_version + 1,
        updated_at=func.now(),
    )
    .returning(*_COLUMNS)
)
_COUNT_ADMINS = Sql(select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value))


def _user(row: Mapping[str, Any]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        full_name=row["full_name"],
        role=Role(row["role"]),
        specialty=row["specialty"],
        active=row["active"],
        session_version=row["session_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        email_verified=row["email_verified"],
    )


class UserRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def get(self, user_id: UUID) -> User | None:
        row = await self._run.fetch_one(_BY_ID, {"id": user_id})
        return None if row is None else _user(row)

    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None:
        row = await self._run.fetch_one(_CREDENTIALS_BY_EMAIL, {"email": email})
        return None if row is None else (_user(row), row["password_hash"])

    async def password_hash(self, user_id: UUID) -> str | None:
        row = await self._run.fetch_one(_PASSWORD_HASH, {"id": user_id})
        return None if row is None else str(row["password_hash"])

    async def session_state(self, user_id: UUID, session_id: UUID) -> DictRow | None:
        """Role, active flag, session version and whether the sign-in is still live: what an
        access token is checked against on every request (one primary-key join)."""
        params = {"id": user_id, "session_id": session_id}
        return await self._run.fetch_one(_SESSION_STATE, params)

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
        """A new account; its email unverified unless ``email_verified`` (appointed by
        configuration or the command line rather than signed up)."""
        try:
            row = await self._run.fetch_one(
                _INSERT,
                {
                    "email": email,
                    "password_hash": password_hash,
                    "full_name": full_name,
                    "role": role.value,
                    "specialty": specialty,
                    "verified": email_verified,
                },
            )
        except psycopg.errors.UniqueViolation:
            raise EmailTaken(email) from None
        assert row is not None
        return _user(row)

    async def update(self, user_id: UUID, changes: Mapping[str, Any]) -> User | None:
        """Apply column changes; ``bump_sessions`` in changes invalidates every token."""
        values: dict[str, Any] = {
            key: value for key, value in changes.items() if key != "bump_sessions"
        }
        values["updated_at"] = func.now()
        if changes.get("bump_sessions"):
            values["session_version"] = users.c.session_version + 1
        statement = (
            users.update().where(users.c.id == user_id).values(**values).returning(*_COLUMNS)
        )
        # Built per call: the set of changed columns varies and updates are not a hot path.
        try:
            row = await self._run.fetch_one(Sql(statement))
        except psycopg.errors.UniqueViolation:
            raise EmailTaken(str(changes.get("email"))) from None
        return None if row is None else _user(row)

    async def mark_email_verified(self, user_id: UUID, email: str) -> bool:
        """Verified, if ``email`` is still the account's address (False otherwise)."""
        return await self._run.execute(_MARK_VERIFIED, {"id": user_id, "email": email}) == 1

    async def email_verified(self, user_id: UUID) -> bool:
        row = await self._run.fetch_one(_EMAIL_VERIFIED, {"id": user_id})
        return bool(row and row["verified"])

    async def set_password(self, user_id: UUID, password_hash: str) -> User | None:
        """A new password; the session version moves on, so every older token ends."""
        row = await self._run.fetch_one(
            _SET_PASSWORD, {"id": user_id, "password_hash": password_hash}
        )
        return None if row is None else _user(row)

    async def find(
        self,
        *,
        role: Role | None,
        query: str | None,
        limit: int,
        offset: int,
        active_only: bool,
    ) -> tuple[list[User], int]:
        conditions: list[Any] = []
        if active_only:
            conditions.append(users.c.active.is_(True))
        if role is not None:
            conditions.append(users.c.role == role.value)
        if query:
            pattern = (
                "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            conditions.append(users.c.full_name.ilike(pattern) | users.c.specialty.ilike(pattern))
        statement = (
            select(*_COLUMNS, func.count().over().label("total"))
            .where(*conditions)
            .order_by(users.c.full_name, users.c.id)
            .limit(limit)
            .offset(offset)
        )
        rows = await self._run.fetch_all(Sql(statement))
        total = rows[0]["total"] if rows else await self._count(conditions)
        return [_user(row) for row in rows], int(total)

    async def _count(self, conditions: list[Any]) -> int:
        row = await self._run.fetch_one(
            Sql(select(func.count().label("n")).select_from(users).where(*conditions))
        )
        return int(row["n"]) if row else 0

    async def count_admins(self) -> int:
        row = await self._run.fetch_one(_COUNT_ADMINS)
        return int(next(iter(row.values()))) if row else 0
