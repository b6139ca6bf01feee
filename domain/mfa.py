"""TOTP multi-factor authentication (RFC 6238): enrolment, the second sign-in step, recovery
codes, an admin's reset.

The rules are here; the ports it needs are the Protocols below: the TOTP arithmetic
(``adapters/totp.py``, pyotp), the signed challenge tokens (the token service), and the
storage (``persistence/mfa.py``) reached through a unit of work.

- A user with a confirmed authenticator signs in in two steps: the password step answers a
  challenge token (``MfaRequired``, 401), the second step that token and a current code (or
  one of the recovery codes) for the token pair, whose access tokens then carry
  ``amr: ["pwd", "otp"]``.
- Under the ``required`` policy a doctor or admin without one is given an *enrolment*
  challenge instead: with it they fetch a new secret and confirm it with a first code, which
  completes the sign-in (README, Decisions).
- A code is accepted once: the time step it matched is remembered per user and that step and
  earlier ones are refused from then on (claimed atomically, so two concurrent uses of one code
  cannot both pass).
- Wrong codes are throttled by the sign-in throttle's rules (``LoginThrottle``), keyed by the
  user's id instead of an email.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from domain.audit import AuditTrail
from domain.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from domain.model import Role, User

if TYPE_CHECKING:
    from domain.auth import LoginThrottle
    from domain.ports import LoginThrottleRepository, Transactions

AMR_PASSWORD: tuple[str, ...] = ("pwd",)
AMR_PASSWORD_AND_OTP: tuple[str, ...] = ("pwd", "otp")
PRIVILEGED = frozenset({Role.DOCTOR, Role.ADMIN})
RECOVERY_CODES = 10
# Base32 without the characters people confuse; 12 characters are 60 bits.
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_RECOVERY_LENGTH = 12

BAD_CHALLENGE = "The sign-in challenge is invalid or has expired; sign in again."
BAD_CODE = "The code is incorrect, expired or already used."
THROTTLED = "Too many wrong codes; try again later."
ENTER_CODE = "Enter the code from your authenticator app, or one of your recovery codes."
ENROL_FIRST = (
    "Your role requires a second factor: enrol an authenticator app with this challenge, "
    "then confirm it with its first code."
)
ALREADY_ENROLLED = "An authenticator is already enrolled; an admin can reset it."
NOTHING_PENDING = "No enrolment is in progress; start one first."
ONE_FACTOR = "Send either a code or a recovery code."


class MfaPolicy(enum.StrEnum):
    REQUIRED = "required"  # doctors and admins must use a second factor
    OPTIONAL = "optional"  # only those who enrolled one use it


class ChallengeKind(enum.StrEnum):
    OTP = "otp"  # enter a code of the enrolled authenticator
    ENROL = "enrol"  # enrol an authenticator first (required by policy)


@dataclass(frozen=True, slots=True)
class ChallengeClaims:
    user_id: UUID
    session_version: int
    kind: ChallengeKind


@dataclass(frozen=True, slots=True)
class TotpRecord:
    secret: str
    confirmed: bool
    last_step: int | None


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A new secret to load into an authenticator app; pending until a first code confirms it."""

    secret: str
    provisioning_uri: str

    def to_json(self) -> dict[str, Any]:
        return {"secret": self.secret, "provisioning_uri": self.provisioning_uri}


class MfaRequired(Unauthenticated):
    """The password was right; the sign-in needs a second step (401 with a challenge)."""

    def __init__(self, kind: ChallengeKind, token: str, expires_in: int) -> None:
        self.kind = kind
        super().__init__(
            ENROL_FIRST if kind is ChallengeKind.ENROL else ENTER_CODE,
            challenge=kind.value,
            challenge_token=token,
            expires_in=expires_in,
        )


# Ports.
class TotpAuthenticator(Protocol):
    def new_secret(self) -> str: ...

    def provisioning_uri(self, secret: str, account: str) -> str: ...

    def matching_step(self, secret: str, code: str, *, for_time: float | None = None) -> int | None:
        """The time step ``code`` belongs to, within the accepted window around now."""
        ...


class ChallengeTokens(Protocol):
    def issue_challenge(
        self, user_id: UUID, session_version: int, kind: ChallengeKind, ttl_seconds: int
    ) -> str: ...

    def decode_challenge(self, token: str) -> ChallengeClaims | None:
        """The claims of a valid, unexpired challenge this service issued; None otherwise."""
        ...


class MfaStore(Protocol):
    async def get(self, user_id: UUID) -> TotpRecord | None: ...

    async def begin(self, user_id: UUID, secret: str) -> bool:
        """Start (or restart) a pending enrolment; False if one is confirmed already."""
        ...

    async def confirm(self, user_id: UUID, step: int, recovery_hashes: Sequence[bytes]) -> bool:
        """Confirm the pending enrolment at ``step`` with these recovery codes; False if none
        is pending."""
        ...

    async def claim_step(self, user_id: UUID, step: int) -> bool:
        """Record ``step`` as used if it is later than the last one (atomically)."""
        ...

    async def use_recovery_code(self, user_id: UUID, code_hash: bytes) -> bool:
        """Spend an unused recovery code of a confirmed authenticator (atomically)."""
        ...

    async def reset(self, user_id: UUID) -> None: ...


class Users(Protocol):
    async def get(self, user_id: UUID) -> User | None: ...


class MfaUnitOfWork(Protocol):
    @property
    def audit(self) -> AuditTrail: ...

    @property
    def mfa(self) -> MfaStore: ...

    @property
    def users(self) -> Users: ...

    @property
    def login_throttle(self) -> LoginThrottleRepository: ...

    async def commit(self) -> None: ...


def normalise_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def hash_recovery_code(code: str) -> bytes:
    return hashlib.sha256(normalise_recovery_code(code).encode()).digest()


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


@dataclass
class MfaService:
    totp: TotpAuthenticator
    challenges: ChallengeTokens
    throttle: LoginThrottle
    policy: MfaPolicy = MfaPolicy.REQUIRED
    challenge_ttl: int = 300

    async def challenge_for(self, uow: MfaUnitOfWork, user: User) -> MfaRequired | None:
        """The challenge a sign-in with the right password must still pass (None: none)."""
        record = await uow.mfa.get(user.id)
        if record is not None and record.confirmed:
            kind = ChallengeKind.OTP
        elif self.policy is MfaPolicy.REQUIRED and user.role in PRIVILEGED:
            kind = ChallengeKind.ENROL
        else:
            return None
        token = self.challenges.issue_challenge(
            user.id, user.session_version, kind, self.challenge_ttl
        )
        return MfaRequired(kind, token, self.challenge_ttl)

    async def challenged_user(
        self, uow: MfaUnitOfWork, challenge_token: str
    ) -> tuple[User, ChallengeKind]:
        """The user a challenge was issued to, if it and the user are still valid: a password
        change or deactivation since ends it."""
        claims = self.challenges.decode_challenge(challenge_token)
        if claims is None:
            raise Unauthenticated(BAD_CHALLENGE)
        user = await uow.users.get(claims.user_id)
        if user is None or not user.active or user.session_version != claims.session_version:
            raise Unauthenticated(BAD_CHALLENGE)
        uow.audit.identify(user.id, user.role.value)
        return user, claims.kind

    async def begin_enrolment(self, uow: MfaUnitOfWork, user: User) -> Enrolment:
        """A new pending secret for ``user`` (the caller commits)."""
        secret = self.totp.new_secret()
        if not await uow.mfa.begin(user.id, secret):
            raise Conflict(ALREADY_ENROLLED)
        return Enrolment(secret, self.totp.provisioning_uri(secret, user.email))

    async def enrol_with_challenge(self, tx: Transactions, challenge_token: str) -> Enrolment:
        async with tx.unit_of_work() as uow:
            return await self._enrol_with_challenge(uow, challenge_token)

    async def enrol(self, tx: Transactions, user_id: UUID) -> Enrolment:
        async with tx.unit_of_work() as uow:
            return await self._enrol(uow, user_id)

    async def confirm(
        self, tx: Transactions, user_id: UUID, code: str, address: str | None
    ) -> list[str]:
        async with tx.unit_of_work() as uow:
            return await self._confirm(uow, user_id, code, address)

    async def reset(self, tx: Transactions, user_id: UUID) -> None:
        async with tx.unit_of_work() as uow:
            return await self._reset(uow, user_id)

    async def _enrol_with_challenge(self, uow: MfaUnitOfWork, challenge_token: str) -> Enrolment:
        uow.audit.record("auth.mfa.enrol", "user", success_status=201)
        user, kind = await self.challenged_user(uow, challenge_token)
        if kind is not ChallengeKind.ENROL:
            raise Conflict(ALREADY_ENROLLED)
        enrolment = await self.begin_enrolment(uow, user)
        await uow.commit()
        return enrolment

    async def _enrol(self, uow: MfaUnitOfWork, user_id: UUID) -> Enrolment:
        """A signed-in user starts enrolling an authenticator (any role)."""
        uow.audit.record("users.mfa.enrol", "user", user_id, success_status=201)
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        enrolment = await self.begin_enrolment(uow, user)
        await uow.commit()
        return enrolment

    async def _confirm(
        self, uow: MfaUnitOfWork, user_id: UUID, code: str, address: str | None
    ) -> list[str]:
        """A signed-in user confirms the pending enrolment with a first code; the recovery
        codes, shown this once."""
        uow.audit.record("users.mfa.confirm", "user", user_id)
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        record = await uow.mfa.get(user_id)
        if record is not None and record.confirmed:
            raise Conflict(ALREADY_ENROLLED)
        codes = await self.second_factor(uow, user, ChallengeKind.ENROL, code, None, address)
        assert codes is not None
        await uow.commit()
        return codes

    async def _reset(self, uow: MfaUnitOfWork, user_id: UUID) -> None:
        """An admin removes a user's authenticator and recovery codes (a lost phone); the
        user enrols again at their next sign-in if the policy requires it."""
        uow.audit.record("users.mfa.reset", "user", user_id, success_status=204)
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("No such user.")
        await uow.mfa.reset(user_id)
        await uow.login_throttle.forget(self.throttle.keys(_throttle_name(user_id), None).all)
        await uow.commit()

    async def second_factor(
        self,
        uow: MfaUnitOfWork,
        user: User,
        kind: ChallengeKind,
        code: str | None,
        recovery_code: str | None,
        address: str | None,
    ) -> list[str] | None:
        """Check the second factor, throttled like passwords: for an enrolment the new
        recovery codes, otherwise None. A wrong one is counted and committed, then refused."""
        if (code is None) == (recovery_code is None):
            raise InvalidRequest(ONE_FACTOR)
        throttle = self.throttle
        keys = throttle.keys(_throttle_name(user.id), address)
        states = await uow.login_throttle.state(keys.all, throttle.window_seconds)
        wait = throttle.wait_before_check(keys, states)
        if wait > 0:
            raise TooManyRequests(THROTTLED, retry_after=wait)
        accepted, recovery_codes = await self._check(uow, user, kind, code, recovery_code)
        if not accepted:
            await uow.login_throttle.count_failure(
                keys.all,
                throttle.window_seconds,
                delayed=throttle.delayed(keys),
                first_delay=throttle.first_delay,
            )
            address_wait = throttle.address_throttled(keys, states)
            uow.audit.fail(429 if address_wait else 401, "wrong or reused second factor")
            await uow.commit()
            if address_wait:
                raise TooManyRequests(THROTTLED, retry_after=address_wait)
            raise Unauthenticated(BAD_CODE)
        await uow.login_throttle.forget([key for key in (keys.account, keys.pair) if key])
        return recovery_codes

    async def _check(
        self,
        uow: MfaUnitOfWork,
        user: User,
        kind: ChallengeKind,
        code: str | None,
        recovery_code: str | None,
    ) -> tuple[bool, list[str] | None]:
        record = await uow.mfa.get(user.id)
        # An enrolment challenge whose user has enrolled since (another sign-in) is answered
        # like a code challenge.
        if kind is ChallengeKind.ENROL and not (record is not None and record.confirmed):
            if record is None:
                raise Conflict(NOTHING_PENDING)
            if code is None:
                raise InvalidRequest("Confirm the enrolment with a code from the app.")
            step = self.totp.matching_step(record.secret, code)
            if step is None:
                return False, None
            codes = new_recovery_codes()
            confirmed = await uow.mfa.confirm(
                user.id, step, [hash_recovery_code(one) for one in codes]
            )
            return confirmed, codes if confirmed else None
        if record is None or not record.confirmed:
            return False, None
        if code is not None:
            step = self.totp.matching_step(record.secret, code)
            accepted = step is not None and await uow.mfa.claim_step(user.id, step)
            return accepted, None
        assert recovery_code is not None
        return await uow.mfa.use_recovery_code(user.id, hash_recovery_code(recovery_code)), None


def _throttle_name(user_id: UUID) -> str:
    # In the sign-in throttle's key space: "account:mfa:<id>" can never be an email's key.
    return f"mfa:{user_id}"
