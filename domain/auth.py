"""Sign-up, sign-in with brute-force throttling, refresh-token rotation and sign-out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.accounts import Accounts
from domain.errors import TooManyRequests, Unauthenticated
from domain.mfa import AMR_PASSWORD, AMR_PASSWORD_AND_OTP, MfaService
from domain.model import Role, TokenPair, User
from domain.passwords import PasswordHasher, check_policy
from domain.tokens import TokenService, hash_refresh_token, new_refresh_token
from persistence.db import UnitOfWork

BAD_CREDENTIALS = "The email or password is incorrect."
BAD_REFRESH = "The refresh token is invalid, expired or already used."
THROTTLED = "Too many failed sign-ins; try again later."
SIGN_UPS_THROTTLED = "Too many sign-ups from this address; try again later."


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class KeyState:
    """One throttle counter as the database holds it now."""

    failures: int  # in the open window (attempts, for sign-ups)
    blocked_for: int  # seconds until the key's delay ends; 0: none
    window_left: int  # seconds until its window ends


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
    hasher: PasswordHasher
    tokens: TokenService
    refresh_ttl: int
    refresh_idle_ttl: int
    throttle: LoginThrottle = LoginThrottle()
    min_password_length: int = 8
    # None: no second factor anywhere (unit tests of the password rules).
    mfa: MfaService | None = None
    # Email verification and password reset; None: no mail is sent (unit tests).
    accounts: Accounts | None = None

    def check_password(self, password: str) -> None:
        check_policy(password, self.min_password_length)

    async def hash_password(self, password: str) -> str:
        return await self.hasher.hash(password)

    async def admit_sign_up(self, uow: UnitOfWork, address: str | None) -> None:
        """Count a sign-up attempt from ``address`` (each costs a bcrypt hash), committed
        whatever the sign-up then does; over the limit, 429 until the window ends."""
        if not address:
            return
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
        if self.accounts is not None:
            # Written with the account: the mail goes out once the sign-up has committed.
            await self.accounts.send_verification(uow, user, user.email)
        await uow.commit()
        return user

    async def login(
        self, uow: UnitOfWork, *, email: str, password: str, address: str | None = None
    ) -> TokenPair:
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
            # The password was right (its counters are cleared); no token before the second step.
            uow.audit.fail(401, f"password accepted; second factor required ({challenge.kind})")
            await uow.commit()
            raise challenge
        session_id, expires_at = await uow.refresh_tokens.start_session(user.id, self.refresh_ttl)
        pair = await self._issue(uow, user, session_id, expires_at, AMR_PASSWORD)
        await uow.commit()
        return pair

    async def login_second_step(
        self,
        uow: UnitOfWork,
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
        uow.audit.record("auth.login.mfa", "account")
        user, kind = await self.mfa.challenged_user(uow, challenge_token)
        recovery_codes = await self.mfa.second_factor(uow, user, kind, code, recovery_code, address)
        session_id, expires_at = await uow.refresh_tokens.start_session(
            user.id, self.refresh_ttl, AMR_PASSWORD_AND_OTP
        )
        pair = await self._issue(uow, user, session_id, expires_at, AMR_PASSWORD_AND_OTP)
        await uow.commit()
        return pair, recovery_codes

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
        amr = await uow.refresh_tokens.session_amr(stored.family_id)
        pair = await self._issue(uow, user, stored.family_id, stored.family_expires_at, amr)
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
        self,
        uow: UnitOfWork,
        user: User,
        family_id: UUID,
        family_expires_at: datetime,
        amr: tuple[str, ...],
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
                user.id, user.role, user.session_version, family_id, amr
            ),
            refresh_token=refresh_token,
            expires_in=self.tokens.ttl_seconds,
            refresh_expires_in=self.refresh_idle_ttl,
        )
