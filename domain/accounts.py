"""Accounts people can recover: email verification and password reset by email.

Both send a single-use token by email through the outbox (``domain.outbox``): the mail is
written in the same transaction as the change and delivered after commit. Tokens are random
(256 bits), stored as SHA-256 only, spent atomically (a second use finds nothing), and expire:
a verification after ``verification_ttl`` (24 h), a reset after ``reset_ttl`` (30 min).

- **Verification**: sign-up sends one; so does a change of email (and the old address is told).
  An unverified account can sign in, but a patient cannot book until verified (README,
  Decisions). Sending it again is throttled per account.
- **Password reset**: a request answers the same whether or not the address has an account
  (and sends nothing when it has none), throttled per submitted address and per client
  address. The token is bound to the account's session version when issued: any password,
  role or active change since, or another reset, ends it. Using it sets the new password (the
  policy applies), ends every session and refresh token, and tells the user by email.
- Every step is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote
from uuid import UUID

from domain.audit import AuditTrail
from domain.errors import Conflict, InvalidRequest, NotFound, TooManyRequests
from domain.model import User
from domain.outbox import Email, Outbox

if TYPE_CHECKING:
    from domain.ports import KeyState, Transactions

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose name, not a secret
BAD_LINK = "The link is invalid, expired or already used."
ALREADY_VERIFIED = "This email address is already verified."
RESEND_THROTTLED = "Too many verification emails; try again later."
RESET_THROTTLED = "Too many password reset requests; try again later."


@dataclass(frozen=True, slots=True)
class SpentToken:
    user_id: UUID
    email: str
    session_version: int


# Ports.
class AccountTokenStore(Protocol):
    async def issue(
        self,
        *,
        user_id: UUID,
        purpose: str,
        token_hash: bytes,
        email: str,
        session_version: int,
        ttl_seconds: int,
    ) -> None:
        """Store a new token; earlier unused ones of the user for the same purpose end."""
        ...

    async def spend(self, purpose: str, token_hash: bytes) -> SpentToken | None:
        """Mark an unused, unexpired token used (atomically); None if there is no such one."""
        ...


class AccountUsers(Protocol):
    async def get(self, user_id: UUID) -> User | None: ...

    async def get_with_password_hash(self, email: str) -> tuple[User, str] | None: ...

    async def mark_email_verified(self, user_id: UUID, email: str) -> bool: ...

    async def email_verified(self, user_id: UUID) -> bool: ...

    async def set_password(self, user_id: UUID, password_hash: str) -> User | None:
        """Store a new password hash and bump the session version (older tokens end)."""
        ...


class Counters(Protocol):
    async def count_failure(self, keys: list[str], window_seconds: int) -> dict[str, KeyState]: ...


class Sessions(Protocol):
    async def revoke_all_for_user(self, user_id: UUID) -> int: ...


class Passwords(Protocol):
    def check_password(self, password: str) -> None: ...

    async def hash_password(self, password: str) -> str: ...


class AccountsUnitOfWork(Protocol):
    @property
    def audit(self) -> AuditTrail: ...

    @property
    def users(self) -> AccountUsers: ...

    @property
    def account_tokens(self) -> AccountTokenStore: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def login_throttle(self) -> Counters: ...

    @property
    def refresh_tokens(self) -> Sessions: ...

    async def commit(self) -> None: ...


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class Accounts:
    passwords: Passwords
    # Where the web app takes a token from a link (``<app_url>/verify-email?token=…``); without
    # one the mail gives the token to paste.
    app_url: str | None = None
    verification_ttl: int = 24 * 3600
    reset_ttl: int = 30 * 60
    window_seconds: int = 900
    resends_per_account: int = 3
    resets_per_account: int = 3
    resets_per_address: int = 20

    def _link(self, page: str, token: str) -> str:
        if self.app_url:
            return f"{self.app_url.rstrip('/')}/{page}?token={quote(token)}"
        return ""

    async def send_verification(self, uow: AccountsUnitOfWork, user: User, email: str) -> None:
        """Issue a verification token for ``email`` and write its mail (the caller commits)."""
        token = new_token()
        await uow.account_tokens.issue(
            user_id=user.id,
            purpose=VERIFY_EMAIL,
            token_hash=hash_token(token),
            email=email,
            session_version=user.session_version,
            ttl_seconds=self.verification_ttl,
        )
        link = self._link("verify-email", token)
        hours = self.verification_ttl // 3600
        text = (
            f"Hello {user.full_name},\n\n"
            "please confirm that this is your email address for MedAI"
            + (f" by opening\n\n  {link}\n\n" if link else ".\n\n")
            + f"Your verification code: {token}\n\n"
            f"It works once, within {hours} hours. If you did not sign up for MedAI, "
            "ignore this mail.\n"
        )
        await uow.outbox.enqueue(Email(to=email, subject="Confirm your email address", text=text))

    async def notify_email_change(self, uow: AccountsUnitOfWork, user: User, old: str) -> None:
        text = (
            f"Hello {user.full_name},\n\n"
            f"the email address of your MedAI account was changed from {old} to {user.email}.\n"
            "If you did not do this, contact your practice at once.\n"
        )
        await uow.outbox.enqueue(
            Email(to=old, subject="Your MedAI email address was changed", text=text)
        )

    async def verify_email(self, tx: Transactions, token: str) -> None:
        async with tx.unit_of_work() as uow:
            return await self._verify_email(uow, token)

    async def resend_verification(self, tx: Transactions, user_id: UUID) -> None:
        async with tx.unit_of_work() as uow:
            return await self._resend_verification(uow, user_id)

    async def request_reset(self, tx: Transactions, email: str, address: str | None) -> None:
        async with tx.unit_of_work() as uow:
            return await self._request_reset(uow, email, address)

    async def reset_password(self, tx: Transactions, token: str, password: str) -> None:
        async with tx.unit_of_work() as uow:
            return await self._reset_password(uow, token, password)

    async def _verify_email(self, uow: AccountsUnitOfWork, token: str) -> None:
        uow.audit.record("auth.email.verify", "user", success_status=204)
        spent = await uow.account_tokens.spend(VERIFY_EMAIL, hash_token(token))
        if spent is None:
            raise InvalidRequest(BAD_LINK)
        uow.audit.events[-1].resource_id = str(spent.user_id)
        # A token for an address the account no longer has verifies nothing.
        if not await uow.users.mark_email_verified(spent.user_id, spent.email):
            raise InvalidRequest(BAD_LINK)
        await uow.commit()

    async def _resend_verification(self, uow: AccountsUnitOfWork, user_id: UUID) -> None:
        uow.audit.record("auth.email.resend", "user", user_id, success_status=202)
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        if await uow.users.email_verified(user_id):
            raise Conflict(ALREADY_VERIFIED)
        counted = await uow.login_throttle.count_failure(
            [f"verify-resend:{user_id}"], self.window_seconds
        )
        state = next(iter(counted.values()))
        if state.failures > self.resends_per_account:
            uow.audit.fail(429, "verification resends throttled")
            await uow.commit()
            raise TooManyRequests(RESEND_THROTTLED, retry_after=state.window_left)
        await self.send_verification(uow, user, user.email)
        await uow.commit()

    async def _request_reset(
        self, uow: AccountsUnitOfWork, email: str, address: str | None
    ) -> None:
        """Send a reset link if ``email`` names an active account; the same answer (and the
        same throttling) either way."""
        email = email.strip().lower()
        uow.audit.record("auth.password_reset.request", "account", email, success_status=202)
        keys = [f"reset:{email}"] + ([f"reset-from:{address}"] if address else [])
        counted = await uow.login_throttle.count_failure(keys, self.window_seconds)
        over = [
            state.window_left
            for key, state in counted.items()
            if state.failures
            > (self.resets_per_account if key.startswith("reset:") else self.resets_per_address)
        ]
        if over:
            uow.audit.fail(429, "password reset requests throttled")
            await uow.commit()
            raise TooManyRequests(RESET_THROTTLED, retry_after=max(over))
        found = await uow.users.get_with_password_hash(email)
        user = found[0] if found else None
        if user is not None and user.active:
            uow.audit.identify(user.id, user.role.value)
            token = new_token()
            await uow.account_tokens.issue(
                user_id=user.id,
                purpose=RESET_PASSWORD,
                token_hash=hash_token(token),
                email=user.email,
                session_version=user.session_version,
                ttl_seconds=self.reset_ttl,
            )
            link = self._link("reset-password", token)
            text = (
                f"Hello {user.full_name},\n\n"
                "someone asked to reset the password of your MedAI account"
                + (f". To choose a new one, open\n\n  {link}\n\n" if link else ".\n\n")
                + f"Your reset code: {token}\n\n"
                f"It works once, within {self.reset_ttl // 60} minutes. If it was not you, "
                "ignore this mail: your password stays as it is.\n"
            )
            await uow.outbox.enqueue(
                Email(to=user.email, subject="Reset your MedAI password", text=text)
            )
        else:
            uow.audit.events[-1].reason = "no active account with this address; nothing sent"
        await uow.commit()

    async def _reset_password(self, uow: AccountsUnitOfWork, token: str, password: str) -> None:
        uow.audit.record("auth.password_reset.confirm", "user", success_status=204)
        self.passwords.check_password(password)
        spent = await uow.account_tokens.spend(RESET_PASSWORD, hash_token(token))
        if spent is None:
            raise InvalidRequest(BAD_LINK)
        uow.audit.events[-1].resource_id = str(spent.user_id)
        user = await uow.users.get(spent.user_id)
        # Bound to the session version it was issued under: a password, role or active change
        # (or another reset) since then ends it.
        if user is None or not user.active or user.session_version != spent.session_version:
            raise InvalidRequest(BAD_LINK)
        uow.audit.identify(user.id, user.role.value)
        updated = await uow.users.set_password(
            user.id, await self.passwords.hash_password(password)
        )
        assert updated is not None
        await uow.refresh_tokens.revoke_all_for_user(user.id)
        # The link reached the account's mailbox: the address is proven.
        await uow.users.mark_email_verified(user.id, spent.email)
        text = (
            f"Hello {user.full_name},\n\n"
            "the password of your MedAI account was just reset, and every device signed in "
            "was signed out.\nIf you did not do this, contact your practice at once.\n"
        )
        await uow.outbox.enqueue(
            Email(to=user.email, subject="Your MedAI password was changed", text=text)
        )
        await uow.commit()
