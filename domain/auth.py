"""Sign-up, sign-in with brute-force throttling, refresh-token rotation and sign-out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import TooManyRequests, Unauthenticated
from domain.model import Role, TokenPair, User
from domain.passwords import PasswordHasher, check_policy
from domain.tokens import TokenService, hash_refresh_token, new_refresh_token
from persistence.db import UnitOfWork

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or already used."
THROTTLED = "Too many failed sign-ins; try again later."


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class LoginThrottle:
    """Failed sign-ins allowed per window, per account and per client address. The account
    key is the submitted email, whether or not it exists, so the limit reveals nothing."""

    per_account: int = 10
    per_address: int = 30
    window_seconds: int = 900

    def keys(self, email: str, address: str | None) -> tuple[list[str], list[int]]:
        keys, limits = [f"account:{email}"], [self.per_account]
        if address:
            keys.append(f"address:{address}")
            limits.append(self.per_address)
        return keys, limits


@dataclass
class AuthService:
    hasher: PasswordHasher
    tokens: TokenService
    refresh_ttl: int
    refresh_idle_ttl: int
    throttle: LoginThrottle = LoginThrottle()
    min_password_length: int = 8

    def check_password(self, password: str) -> None:
        check_policy(password, self.min_password_length)

    async def register(self, uow: UnitOfWork, *, email: str, password: str, full_name: str) -> User:
        """Anyone may sign up, always as a patient; roles are granted by an admin."""
        uow.audit.record("auth.register", "user", success_status=201)
        self.check_password(password)
        password_hash = await self.hasher.hash(password)
        user = await uow.users.add(
            email=normalise_email(email),
            password_hash=password_hash,
            full_name=full_name.strip(),
            role=Role.PATIENT,
        )
        uow.audit.identify(user.id, user.role.value)
        uow.audit.concerns(user.id)
        await uow.commit()
        return user

    async def login(
        self, uow: UnitOfWork, *, email: str, password: str, address: str | None = None
    ) -> TokenPair:
        email = normalise_email(email)
        uow.audit.record("auth.login", "account", email)
        keys, limits = self.throttle.keys(email, address)
        retry_after = await uow.login_throttle.blocked_for(
            keys, limits, self.throttle.window_seconds
        )
        if retry_after > 0:
            raise TooManyRequests(THROTTLED, retry_after=retry_after)
        found = await uow.users.get_with_password_hash(email)
        user, stored_hash = found if found else (None, None)
        # Same bcrypt work whether or not the email exists: no timing oracle.
        valid = await self.hasher.verify(password, stored_hash)
        if not valid or user is None or not user.active:
            # The failure must count although the request fails: commit, then refuse.
            await uow.login_throttle.count_failure(keys, self.throttle.window_seconds)
            uow.audit.fail(401, "bad credentials" if not valid else "inactive account")
            await uow.commit()
            raise Unauthenticated(BAD_CREDENTIALS)
        await uow.login_throttle.forget(keys[0])
        uow.audit.identify(user.id, user.role.value)
        session_id, expires_at = await uow.refresh_tokens.start_session(user.id, self.refresh_ttl)
        pair = await self._issue(uow, user, session_id, expires_at)
        await uow.commit()
        return pair

    async def refresh(self, uow: UnitOfWork, *, refresh_token: str) -> TokenPair:
        event = uow.audit.record("auth.refresh", "session")
        stored = await uow.refresh_tokens.lock(hash_refresh_token(refresh_token))
        if stored is None or stored.revoked:
            raise Unauthenticated(BAD_REFRESH)
        event.resource_id = str(stored.family_id)
        uow.audit.identify(stored.user_id, None)
        if stored.spent:
            # A spent token presented again means it was copied: end the whole sign-in.
            await uow.refresh_tokens.revoke_family(stored.family_id)
            event.action = "auth.refresh.reuse"
            uow.audit.fail(401, "spent refresh token reused; session revoked")
            await uow.commit()
            raise Unauthenticated(BAD_REFRESH)
        if stored.now >= stored.expires_at:
            raise Unauthenticated(BAD_REFRESH)
        user = await uow.users.get(stored.user_id)
        if user is None or not user.active:
            raise Unauthenticated(BAD_REFRESH)
        uow.audit.identify(user.id, user.role.value)
        await uow.refresh_tokens.mark_spent(stored.id)
        pair = await self._issue(uow, user, stored.family_id, stored.family_expires_at)
        await uow.commit()
        return pair

    async def log_out(self, uow: UnitOfWork, *, refresh_token: str, user_id: UUID) -> None:
        """End the sign-in the refresh token belongs to, if it is the caller's."""
        event = uow.audit.record("auth.logout", "session", success_status=204)
        stored = await uow.refresh_tokens.lock(hash_refresh_token(refresh_token))
        if stored is not None and stored.user_id == user_id:
            event.resource_id = str(stored.family_id)
            await uow.refresh_tokens.revoke_family(stored.family_id)
            await uow.commit()

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
            access_token=self.tokens.issue_access(
                user.id, user.role, user.session_version, family_id
            ),
            refresh_token=refresh_token,
            expires_in=self.tokens.ttl_seconds,
            refresh_expires_in=self.refresh_idle_ttl,
        )
