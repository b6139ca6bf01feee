"""Sign-up, sign-in and refresh-token rotation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import Unauthenticated
from domain.model import Role, TokenPair, User
from domain.passwords import PasswordHasher, check_policy
from domain.tokens import TokenService, hash_refresh_token, new_refresh_token
from persistence.db import UnitOfWork

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or already used."


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class AuthService:
    hasher: PasswordHasher
    tokens: TokenService
    refresh_ttl: int
    refresh_idle_ttl: int

    async def register(self, uow: UnitOfWork, *, email: str, password: str, full_name: str) -> User:
        """Anyone may sign up, always as a patient; roles are granted by an admin."""
        check_policy(password)
        password_hash = await self.hasher.hash(password)
        user = await uow.users.add(
            email=normalise_email(email),
            password_hash=password_hash,
            full_name=full_name.strip(),
            role=Role.PATIENT,
        )
        await uow.commit()
        return user

    async def login(self, uow: UnitOfWork, *, email: str, password: str) -> TokenPair:
        found = await uow.users.get_with_password_hash(normalise_email(email))
        user, stored_hash = found if found else (None, None)
        # Same bcrypt work whether or not the email exists: no timing oracle.
        valid = await self.hasher.verify(password, stored_hash)
        if not valid or user is None or not user.active:
            raise Unauthenticated(BAD_CREDENTIALS)
        family_expires_at = await uow.refresh_tokens.family_expiry(self.refresh_ttl)
        pair = await self._issue(uow, user, uuid.uuid4(), family_expires_at)
        await uow.commit()
        return pair

    async def refresh(self, uow: UnitOfWork, *, refresh_token: str) -> TokenPair:
        stored = await uow.refresh_tokens.lock(hash_refresh_token(refresh_token))
        if stored is None or stored.revoked:
            raise Unauthenticated(BAD_REFRESH)
        if stored.spent:
            # A spent token presented again means it was copied: end the whole sign-in.
            await uow.refresh_tokens.revoke_family(stored.family_id)
            await uow.commit()
            raise Unauthenticated(BAD_REFRESH)
        if stored.now >= stored.expires_at:
            raise Unauthenticated(BAD_REFRESH)
        user = await uow.users.get(stored.user_id)
        if user is None or not user.active:
            raise Unauthenticated(BAD_REFRESH)
        await uow.refresh_tokens.mark_spent(stored.id)
        pair = await self._issue(uow, user, stored.family_id, stored.family_expires_at)
        await uow.commit()
        return pair

    async def revoke_sessions(self, uow: UnitOfWork, user_id: UUID) -> None:
        """End every sign-in of a user (the caller commits)."""
        await uow.refresh_tokens.revoke_all_for_user(user_id)

    async def _issue(
        self, uow: UnitOfWork, user: User, family_id: UUID, family_expires_at: datetime
    ) -> TokenPair:
        refresh_token = new_refresh_token()
        await uow.refresh_tokens.add(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh_token),
            family_expires_at=family_expires_at,
            idle_seconds=self.refresh_idle_ttl,
        )
        return TokenPair(
            access_token=self.tokens.issue_access(user.id, user.role, user.session_version),
            refresh_token=refresh_token,
            expires_in=self.tokens.ttl_seconds,
            refresh_expires_in=self.refresh_idle_ttl,
        )
