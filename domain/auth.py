"""Sign-up, sign-in with brute-force throttling, refresh-token rotation and sign-out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

from domain.accounts import Accounts
from domain.credentials import (
    AccessTokens,
    PasswordHashing,
    check_policy,
    hash_refresh_token,
    new_refresh_token,
)
from domain.errors import Conflict, Forbidden, TooManyRequests, Unauthenticated
from domain.mfa import AMR_PASSWORD, AMR_PASSWORD_AND_OTP, MfaService
from domain.model import Role, TokenPair, User
from domain.ports import EmailTaken, KeyState, Transactions, UnitOfWork

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or already used."
THROTTLED = "Too many failed sign-ins; try again later."
SIGN_UPS_THROTTLED = "Too many sign-ups from this address; try again later."
CSRF_HEADER = "X-Requested-With"
NO_CSRF_HEADER = (
    "A request that uses the refresh-token cookie must carry an X-Requested-With header."
)
FOREIGN_ORIGIN = "A request that uses the refresh-token cookie must come from a trusted origin."
# How long a spent refresh token still gets the pair it was exchanged for (README, Decisions):
# two tabs, or a retry after a lost reply, refresh with the same token within this time.
REFRESH_REUSE_GRACE_SECONDS = 10


def check_cookie_request(
    *,
    csrf_header: str | None,
    origin: str | None,
    fetch_site: str | None,
    host: str | None,
    trusted_origins: Collection[str],
) -> None:
    """Refuse (403) a request that would use the refresh-token cookie unless it can only have
    come from a page of a trusted origin: a custom header (no form or simple cross-site request
    can carry one, and a cross-origin script needs a CORS preflight that only the configured
    origins pass) and, when the browser names it, an origin that is this server or configured."""
    if not csrf_header:
        raise Forbidden(NO_CSRF_HEADER)
    if fetch_site == "cross-site":
        raise Forbidden(FOREIGN_ORIGIN)
    if origin is None:
        return  # not a browser, or a same-origin request of an older one
    if origin in trusted_origins:
        return
    if host is None or urlsplit(origin).netloc.lower() != host.lower():
        raise Forbidden(FOREIGN_ORIGIN)


EMAIL_TAKEN = "A user with this email already exists."


def email_taken() -> Conflict:
    return Conflict(EMAIL_TAKEN)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    account: str
    pair: str | None  # the account at this address
    address: str | None

    @property
    def all(self) -> list[str]:
        return [key for key in (self.account, self.pair, self.address) if key]


@dataclass(frozen=True)
class LoginThrottle:
    """Brute-force throttling that cannot lock a user out (README, Decisions).

    Failures are counted per account (the submitted email, whether or not it exists, so the
    throttle reveals nothing), per account at one address, and per address, in windows of
    ``window_seconds``. Past its allowance an account, or an account at an address, waits a
    delay that starts at ``first_delay`` and doubles with every further failure (at most a
    window). The per-address count, high enough for an office behind one NAT, refuses only
    attempts at accounts that already failed from that address (before their password is
    checked) and failing ones (after): a correct password for an account without recent
    failures always gets in, however many others failed from the same address.
    """

    per_account: int = 10
    per_pair: int = 5
    per_address: int = 100
    window_seconds: int = 900
    first_delay: int = 30
    sign_ups_per_address: int = 20

    def keys(self, email: str, address: str | None) -> ThrottleKeys:
        if not address:
            return ThrottleKeys(f"account:{email}", None, None)
        return ThrottleKeys(f"account:{email}", f"pair:{address} {email}", f"address:{address}")

    def delayed(self, keys: ThrottleKeys) -> list[tuple[str, int]]:
        """The keys that earn growing delays, each with its allowance."""
        pairs = [(keys.account, self.per_account)]
        if keys.pair:
            pairs.append((keys.pair, self.per_pair))
        return pairs

    def spares(self, pair: KeyState | None) -> bool:
        """Whether an account is let through a throttled address: no failures from there."""
        return pair is None or pair.failures == 0

    def address_throttled(self, keys: ThrottleKeys, states: dict[str, KeyState]) -> int:
        """Seconds until the address's window ends, if it is over its limit (0: it is not)."""
        state = states.get(keys.address) if keys.address else None
        if state is None or state.failures < self.per_address:
            return 0
        return state.window_left

    def wait_before_check(self, keys: ThrottleKeys, states: dict[str, KeyState]) -> int:
        """Seconds a sign-in is refused for without its password being checked (0: check)."""
        delays = [states[key].blocked_for for key in (keys.account, keys.pair) if key in states]
        wait = max(delays, default=0)
        if wait > 0:
            return wait
        if self.spares(states.get(keys.pair) if keys.pair else None):
            return 0
        return self.address_throttled(keys, states)


@dataclass
class AuthService:
    hasher: PasswordHashing
    tokens: AccessTokens
    refresh_ttl: int
    refresh_idle_ttl: int
    throttle: LoginThrottle = LoginThrottle()
    reuse_grace_seconds: int = REFRESH_REUSE_GRACE_SECONDS
    min_password_length: int = 8
    # None: no second factor anywhere (unit tests of the password rules).
    mfa: MfaService | None = None
    # Email verification and password reset; None: no mail is sent (unit tests).
    accounts: Accounts | None = None

    def check_password(self, password: str) -> None:
        check_policy(password, self.min_password_length)

    async def hash_password(self, password: str) -> str:
        return await self.hasher.hash(password)

    async def admit_sign_up(self, tx: Transactions, address: str | None) -> None:
        """Count a sign-up attempt from ``address`` (each costs a bcrypt hash), committed
        whatever the sign-up then does; over the limit, 429 until the window ends."""
        if not address:
            return
        async with tx.unit_of_work() as uow:
            counted = await uow.login_throttle.count_failure(
                [f"sign-up:{address}"], self.throttle.window_seconds
            )
            state = next(iter(counted.values()))
            if state.failures > self.throttle.sign_ups_per_address:
                uow.audit.record("auth.register", "user", success_status=201)
                uow.audit.fail(429, "sign-ups throttled for this address")
                await uow.commit()
                raise TooManyRequests(SIGN_UPS_THROTTLED, retry_after=state.window_left)
            await uow.commit()

    async def register(
        self, tx: Transactions, *, email: str, password: str, full_name: str
    ) -> User:
        """Anyone may sign up, always as a patient; roles are granted by an admin."""
        async with tx.unit_of_work() as uow:
            uow.audit.record("auth.register", "user", success_status=201)
            self.check_password(password)
            password_hash = await self.hasher.hash(password)
            try:
                user = await uow.users.add(
                    email=normalise_email(email),
                    password_hash=password_hash,
                    full_name=full_name.strip(),
                    role=Role.PATIENT,
                )
            except EmailTaken:
                raise email_taken() from None
            uow.audit.identify(user.id, user.role.value)
            uow.audit.concerns(user.id)
            if self.accounts is not None:
                # Written with the account: the mail goes out once the sign-up has committed.
                await self.accounts.send_verification(uow, user, user.email)
            await uow.commit()
            return user

    async def login(
        self, tx: Transactions, *, email: str, password: str, address: str | None = None
    ) -> TokenPair:
        async with tx.unit_of_work() as uow:
            email = normalise_email(email)
            uow.audit.record("auth.login", "account", email)
            throttle = self.throttle
            keys = throttle.keys(email, address)
            states = await uow.login_throttle.state(keys.all, throttle.window_seconds)
            retry_after = throttle.wait_before_check(keys, states)
            if retry_after > 0:
                raise TooManyRequests(THROTTLED, retry_after=retry_after)
            found = await uow.users.get_with_password_hash(email)
            user, stored_hash = found if found else (None, None)
            # Same bcrypt work whether or not the email exists: no timing oracle.
            valid = await self.hasher.verify(password, stored_hash)
            if not valid or user is None or not user.active:
                # The failure must count although the request fails: commit, then refuse.
                await uow.login_throttle.count_failure(
                    keys.all,
                    throttle.window_seconds,
                    delayed=throttle.delayed(keys),
                    first_delay=throttle.first_delay,
                )
                address_wait = throttle.address_throttled(keys, states)
                status = 429 if address_wait else 401
                uow.audit.fail(status, "bad credentials" if not valid else "inactive account")
                await uow.commit()
                if address_wait:
                    raise TooManyRequests(THROTTLED, retry_after=address_wait)
                raise Unauthenticated(BAD_CREDENTIALS)
            await uow.login_throttle.forget([key for key in (keys.account, keys.pair) if key])
            uow.audit.identify(user.id, user.role.value)
            challenge = await self.mfa.challenge_for(uow, user) if self.mfa else None
            if challenge is not None:
                # The password was right (its counters are cleared); no token before the
                # second step.
                uow.audit.fail(401, f"password accepted; second factor required ({challenge.kind})")
                await uow.commit()
                raise challenge
            session_id, expires_at = await uow.refresh_tokens.start_session(
                user.id, self.refresh_ttl
            )
            pair = await self._issue(uow, user, session_id, expires_at, AMR_PASSWORD)
            await uow.commit()
            return pair

    async def login_second_step(
        self,
        tx: Transactions,
        *,
        challenge_token: str,
        code: str | None,
        recovery_code: str | None,
        address: str | None = None,
    ) -> tuple[TokenPair, list[str] | None]:
        """The second sign-in step: the challenge of the password step and a TOTP code (or a
        recovery code). For an enrolment challenge the code confirms the new authenticator,
        and its recovery codes come back with the tokens, this once."""
        assert self.mfa is not None
        async with tx.unit_of_work() as uow:
            uow.audit.record("auth.login.mfa", "account")
            user, kind = await self.mfa.challenged_user(uow, challenge_token)
            recovery_codes = await self.mfa.second_factor(
                uow, user, kind, code, recovery_code, address
            )
            session_id, expires_at = await uow.refresh_tokens.start_session(
                user.id, self.refresh_ttl, AMR_PASSWORD_AND_OTP
            )
            pair = await self._issue(uow, user, session_id, expires_at, AMR_PASSWORD_AND_OTP)
            await uow.commit()
            return pair, recovery_codes

    async def refresh(self, tx: Transactions, *, refresh_token: str) -> TokenPair:
        async with tx.unit_of_work() as uow:
            event = uow.audit.record("auth.refresh", "session")
            stored = await uow.refresh_tokens.lock(hash_refresh_token(refresh_token))
            if stored is None or stored.revoked:
                raise Unauthenticated(BAD_REFRESH)
            event.resource_id = str(stored.family_id)
            uow.audit.identify(stored.user_id, None)
            successor, jti = self.tokens.successor(refresh_token)
            if stored.spent:
                repeated = await self._repeat(
                    uow,
                    stored.family_id,
                    stored.user_id,
                    (stored.spent_at, stored.now),
                    successor,
                    jti,
                )
                if repeated is not None:
                    return repeated
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
            # Issued at the database's time of this exchange (the token's spent_at), so that a
            # repeat within the grace can sign the same access token.
            amr = await uow.refresh_tokens.session_amr(stored.family_id)
            pair = await self._issue(
                uow,
                user,
                stored.family_id,
                stored.family_expires_at,
                amr,
                refresh_token=successor,
                issued_at=int(stored.now.timestamp()),
                jti=jti,
            )
            await uow.commit()
            return pair

    async def _repeat(
        self,
        uow: UnitOfWork,
        family_id: UUID,
        user_id: UUID,
        spent_and_now: tuple[datetime | None, datetime],
        successor: str,
        jti: str,
    ) -> TokenPair | None:
        """The pair a spent token was exchanged for, if it is presented again within the grace
        and that pair is still the sign-in's newest (not yet refreshed, not revoked)."""
        spent_at, now = spent_and_now
        if spent_at is None or (now - spent_at).total_seconds() > self.reuse_grace_seconds:
            return None
        newest = await uow.refresh_tokens.lock(hash_refresh_token(successor))
        if newest is None or newest.spent or newest.revoked or newest.family_id != family_id:
            return None
        user = await uow.users.get(user_id)
        if user is None or not user.active:
            raise Unauthenticated(BAD_REFRESH)
        uow.audit.identify(user.id, user.role.value)
        access_token = self.tokens.issue_access(
            user.id,
            user.role,
            user.session_version,
            family_id,
            await uow.refresh_tokens.session_amr(family_id),
            # The first exchange was issued at its spent_at: see refresh().
            issued_at=int(spent_at.timestamp()),
            jti=jti,
        )
        await uow.commit()
        return TokenPair(
            access_token=access_token,
            refresh_token=successor,
            expires_in=self.tokens.ttl_seconds,
            refresh_expires_in=self.refresh_idle_ttl,
            user_id=user.id,
            role=user.role,
        )

    async def log_out(self, tx: Transactions, *, refresh_token: str, user_id: UUID) -> None:
        """End the sign-in the refresh token belongs to, if it is the caller's."""
        async with tx.unit_of_work() as uow:
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
        self,
        uow: UnitOfWork,
        user: User,
        family_id: UUID,
        family_expires_at: datetime,
        amr: tuple[str, ...],
        *,
        refresh_token: str | None = None,
        issued_at: int | None = None,
        jti: str | None = None,
    ) -> TokenPair:
        refresh_token = refresh_token or new_refresh_token()
        await uow.refresh_tokens.add(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh_token),
            family_expires_at=family_expires_at,
            idle_seconds=self.refresh_idle_ttl,
        )
        return TokenPair(
            access_token=self.tokens.issue_access(
                user.id,
                user.role,
                user.session_version,
                family_id,
                amr,
                issued_at=issued_at,
                jti=jti,
            ),
            refresh_token=refresh_token,
            expires_in=self.tokens.ttl_seconds,
            refresh_expires_in=self.refresh_idle_ttl,
            user_id=user.id,
            role=user.role,
        )
