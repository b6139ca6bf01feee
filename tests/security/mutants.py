"""The protections of the security suite, and for each one a way to switch it off.

A mutant monkeypatches the running code (never the files) so that one protection is gone, and
names the test modules that must then fail. ``mutant_plugin`` applies one inside a pytest run;
``mutations`` runs them all and reports which tests caught which. Each function below is the
smallest change a careless edit could plausibly make.
"""

from __future__ import annotations

import copy
import dataclasses
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
import psycopg
import pytest
from connexion import AsyncApp
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem
from connexion.spec import Specification
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from adapters import tokens
from adapters.passwords import PasswordHasher
from domain import appointment_rules, appointments, credentials, user_rules, users
from domain.auth import AuthService, LoginThrottle, ThrottleKeys
from domain.credentials import InvalidToken
from domain.errors import Conflict
from domain.model import utc_iso
from domain.queries import AppointmentQuery
from persistence import login_throttle
from persistence.appointments import AppointmentRepository
from persistence.audit import AuditRepository
from persistence.login_throttle import LoginThrottleRepository
from persistence.refresh_tokens import RefreshTokenRepository
from persistence.users import UserRepository
from service import app as app_factory
from service import hardening, migrate, problems, security
from service.edge import Edge
from service.runtime import from_scope

API1 = "test_api1_object_level_authorization.py"
API2 = "test_api2_broken_authentication.py"
API3 = "test_api3_property_level_authorization.py"
API4 = "test_api4_resource_consumption.py"
API5 = "test_api5_function_level_authorization.py"
API8 = "test_api8_security_misconfiguration.py"
API9 = "test_api9_inventory.py"
JWT = "test_jwt_attacks.py"
AUDIT = "test_audit_trail.py"

Apply = Callable[[pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Mutant:
    name: str
    protection: str
    modules: tuple[str, ...]
    apply: Apply


MUTANTS: dict[str, Mutant] = {}


def mutant(protection: str, *modules: str) -> Callable[[Apply], Apply]:
    def register(apply: Apply) -> Apply:
        name = apply.__name__.replace("_", "-")
        MUTANTS[name] = Mutant(name, protection, modules, apply)
        return apply

    return register


# --- sessions: the security function's database check ----------------------------------------


@mutant("token check reads role/active/session from the database", API2, API5, JWT)
def token_trusted_without_database(mp: pytest.MonkeyPatch) -> None:
    async def trusting(token: str, request: Any) -> dict[str, Any] | None:
        try:
            claims = from_scope(request.scope).tokens.decode_access(token)
        except InvalidToken:
            return None
        role = claims.role.value
        return {"sub": str(claims.user_id), "role": role, "scope": [role]}

    mp.setattr(security, "token_info", trusting)


def _session_state_with(mp: pytest.MonkeyPatch, **forced: Any) -> None:
    real = UserRepository.session_state

    async def state(self: UserRepository, user_id: UUID, session_id: UUID) -> Any:
        row = await real(self, user_id, session_id)
        return None if row is None else {**row, **forced}

    mp.setattr(UserRepository, "session_state", state)


@mutant("access tokens of a revoked or expired sign-in are refused", API2)
def revoked_sessions_stay_live(mp: pytest.MonkeyPatch) -> None:
    _session_state_with(mp, session_live=True)


@mutant("access tokens of a deactivated account are refused", API2)
def inactive_accounts_accepted(mp: pytest.MonkeyPatch) -> None:
    _session_state_with(mp, active=True)


class _EqualsAnything(int):
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


@mutant("access tokens carrying an old session version are refused", API2, JWT)
def stale_session_version_accepted(mp: pytest.MonkeyPatch) -> None:
    _session_state_with(mp, session_version=_EqualsAnything(0))


# --- sign-in ---------------------------------------------------------------------------------


@mutant("failed sign-ins are throttled", API2)
def no_login_throttle(mp: pytest.MonkeyPatch) -> None:
    async def nothing_counted(self: LoginThrottleRepository, *args: Any) -> dict[str, Any]:
        return {}

    mp.setattr(LoginThrottleRepository, "state", nothing_counted)


@mutant("the throttle also counts per client address", API2)
def throttle_ignores_client_address(mp: pytest.MonkeyPatch) -> None:
    real = LoginThrottle.keys

    def account_only(self: LoginThrottle, email: str, address: str | None) -> ThrottleKeys:
        return ThrottleKeys(real(self, email, address).account, None, None)

    mp.setattr(LoginThrottle, "keys", account_only)


@mutant("throttle delays double with every further failure", API2)
def throttle_delays_do_not_grow(mp: pytest.MonkeyPatch) -> None:
    flat = copy.copy(login_throttle._DELAY)
    flat.text = flat.text.replace("power(2,", "power(1,")
    assert flat.text != login_throttle._DELAY.text
    mp.setattr(login_throttle, "_DELAY", flat)


@mutant("a throttled address still lets in accounts without failures from it", API2)
def throttled_address_locks_everyone_out(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(LoginThrottle, "spares", lambda self, pair: False)


@mutant("sign-ups are throttled per client address", API2)
def sign_ups_not_throttled(mp: pytest.MonkeyPatch) -> None:
    async def admit(self: AuthService, uow: Any, address: str | None) -> None:
        return None

    mp.setattr(AuthService, "admit_sign_up", admit)


@mutant("an unknown email costs the same bcrypt work as a wrong password", API2)
def unknown_emails_skip_bcrypt(mp: pytest.MonkeyPatch) -> None:
    real = PasswordHasher.verify

    async def fast(self: PasswordHasher, password: str, hashed: str | None) -> bool:
        return False if hashed is None else await real(self, password, hashed)

    mp.setattr(PasswordHasher, "verify", fast)


@mutant("passwords over 72 bytes are never truncated", API2)
def passwords_truncated_to_72_bytes(mp: pytest.MonkeyPatch) -> None:
    real = PasswordHasher.verify

    async def truncating(self: PasswordHasher, password: str, hashed: str | None) -> bool:
        cut = password.encode()[:72].decode(errors="ignore")
        return await real(self, cut, hashed)

    mp.setattr(PasswordHasher, "verify", truncating)


@mutant("common passwords are refused", API2)
def common_passwords_allowed(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(credentials, "common_passwords", lambda: frozenset())


# --- refresh tokens --------------------------------------------------------------------------


@mutant("a refresh token is spent when used (rotation)", API2)
def refresh_tokens_not_rotated(mp: pytest.MonkeyPatch) -> None:
    async def keep(self: RefreshTokenRepository, token_id: UUID) -> None:
        return None

    mp.setattr(RefreshTokenRepository, "mark_spent", keep)


@mutant("reuse of a spent refresh token, and logout, end the sign-in", API2)
def sign_ins_never_revoked(mp: pytest.MonkeyPatch) -> None:
    async def keep(self: RefreshTokenRepository, family_id: UUID) -> int:
        return 0

    mp.setattr(RefreshTokenRepository, "revoke_family", keep)


@mutant("refresh tokens expire (inactivity and absolute lifetime)", API2)
def refresh_expiry_ignored(mp: pytest.MonkeyPatch) -> None:
    real = RefreshTokenRepository.lock

    async def ageless(self: RefreshTokenRepository, token_hash: bytes) -> Any:
        stored = await real(self, token_hash)
        if stored is None:
            return None
        return dataclasses.replace(stored, expires_at=stored.now.replace(year=9999))

    mp.setattr(RefreshTokenRepository, "lock", ageless)


# --- JWT validation (RFC 8725) ---------------------------------------------------------------


class _LenientJwt:
    """The ``jwt`` module as ``adapters.tokens`` sees it, with some decode checks relaxed."""

    def __init__(
        self,
        rewrite: Callable[[dict[str, Any]], None] = lambda kwargs: None,
        after: Callable[[dict[str, Any]], None] = lambda decoded: None,
    ) -> None:
        self._rewrite, self._after = rewrite, after

    def __getattr__(self, name: str) -> Any:
        return getattr(jwt, name)

    def decode_complete(self, token: str, key: Any, **kwargs: Any) -> dict[str, Any]:
        kwargs["options"] = dict(kwargs.get("options") or {})
        self._rewrite(kwargs)
        decoded: dict[str, Any] = jwt.decode_complete(token, key, **kwargs)
        self._after(decoded)
        return decoded


def _relax_jwt(mp: pytest.MonkeyPatch, rewrite: Callable[[dict[str, Any]], None]) -> None:
    mp.setattr(tokens, "jwt", _LenientJwt(rewrite))


@mutant("the access token's signature is verified (alg pinned to HS256)", JWT)
def signature_not_verified(mp: pytest.MonkeyPatch) -> None:
    # PyJWT turns the claim checks off with the signature unless they are asked for.
    checks = ("verify_exp", "verify_nbf", "verify_iat", "verify_aud", "verify_iss")
    unsigned = {"verify_signature": False, **dict.fromkeys(checks, True)}
    _relax_jwt(mp, lambda kw: kw["options"].update(unsigned))


@mutant("the token's issuer is checked", JWT)
def issuer_not_checked(mp: pytest.MonkeyPatch) -> None:
    _relax_jwt(mp, lambda kw: kw.update(issuer=None))


@mutant("the token's audience is checked", JWT)
def audience_not_checked(mp: pytest.MonkeyPatch) -> None:
    _relax_jwt(mp, lambda kw: kw["options"].update(verify_aud=False))


@mutant("expired tokens are refused", JWT)
def expiry_not_checked(mp: pytest.MonkeyPatch) -> None:
    _relax_jwt(mp, lambda kw: kw["options"].update(verify_exp=False))


@mutant("tokens not yet valid (nbf, iat in the future) are refused", JWT)
def not_before_not_checked(mp: pytest.MonkeyPatch) -> None:
    _relax_jwt(mp, lambda kw: kw["options"].update(verify_nbf=False, verify_iat=False))


@mutant("exp, iat, iss, aud, sub and jti are required", JWT)
def required_claims_not_enforced(mp: pytest.MonkeyPatch) -> None:
    _relax_jwt(mp, lambda kw: kw["options"].update(require=[]))


@mutant("only tokens typed at+jwt pass as access tokens", JWT)
def token_type_not_checked(mp: pytest.MonkeyPatch) -> None:
    def retype(decoded: dict[str, Any]) -> None:
        decoded["header"]["typ"] = tokens.ACCESS_TOKEN_TYPE

    mp.setattr(tokens, "jwt", _LenientJwt(after=retype))


# --- object and property level authorization -------------------------------------------------


@mutant("appointments are visible to their patient, doctor and admins only", API1)
def appointment_ownership_ignored(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(appointment_rules, "can_see", lambda caller, parties: True)


@mutant("appointment lists are scoped to the caller before filters apply", API1)
def appointment_list_scope_dropped(mp: pytest.MonkeyPatch) -> None:
    real = AppointmentRepository.find

    async def unscoped(self: AppointmentRepository, query: AppointmentQuery) -> Any:
        wide = dataclasses.replace(query, scope_patient_id=None, scope_doctor_id=None)
        return await real(self, wide)

    mp.setattr(AppointmentRepository, "find", unscoped)


@mutant("full profiles go to the user themself and admins only", API1, API3)
def profiles_open_to_everyone(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(user_rules, "sees_full_profile", lambda caller, user_id: True)


@mutant("others get the public profile, without account details", API3)
def public_profiles_show_everything(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(users.Visible, "to_json", lambda self: self.user.to_json())


@mutant("non-admins may only list doctors", API1, API5)
def user_list_role_filter_open(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(user_rules, "may_list", lambda caller, role: role)


@mutant("who may change which user fields (no mass assignment)", API3, API5)
def user_field_rules_ignored(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(user_rules, "check_update", lambda caller, target, changes: None)


@mutant("who may change which appointment fields", API3)
def appointment_field_rules_ignored(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(appointment_rules, "PATIENT_FIELDS", appointment_rules.ADMIN_FIELDS)
    mp.setattr(appointment_rules, "DOCTOR_FIELDS", appointment_rules.ADMIN_FIELDS)


@mutant("a slot conflict says when, never whose appointment", API3)
def slot_conflicts_name_the_other_appointment(mp: pytest.MonkeyPatch) -> None:
    async def chatty(uow: Any, party: str, party_id: UUID, booking: Any) -> Conflict:
        query = AppointmentQuery(
            doctor_id=party_id if party == "doctor" else None,
            patient_id=party_id if party == "patient" else None,
            window_from=booking.start_at,
            window_to=booking.end_at,
            limit=1,
        )
        [other] = await uow.appointments.find(query)
        return Conflict(
            f"Taken by {other['patient_name']} from {utc_iso(other['start_at'])}.",
            conflicting_appointment=str(other["id"]),
            conflicting_patient=str(other["patient_id"]),
        )

    mp.setattr(appointments, "_slot_conflict", chatty)


# --- function level authorization ------------------------------------------------------------


@mutant("roles listed in the spec (x-roles) are enforced", API5, JWT)
def role_scopes_ignored(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(security, "enforced", lambda published: published)


# --- the contract: request validation from the spec ------------------------------------------


def _rewrite_spec(mp: pytest.MonkeyPatch, change: Callable[[dict[str, Any]], None]) -> None:
    real = Specification._load_spec_from_file

    def load(arguments: Any, path: Any) -> Any:
        spec = real(arguments, path)
        change(spec)
        return spec

    mp.setattr(Specification, "_load_spec_from_file", staticmethod(load))


def _drop_keys(node: Any, keys: frozenset[str], value: Any = ...) -> None:
    if isinstance(node, dict):
        for key in keys & node.keys():
            if value is ... or node[key] == value:
                del node[key]
        for child in node.values():
            _drop_keys(child, keys, value)
    elif isinstance(node, list):
        for child in node:
            _drop_keys(child, keys, value)


@mutant("request bodies refuse unknown fields (additionalProperties: false)", API3)
def unknown_body_fields_accepted(mp: pytest.MonkeyPatch) -> None:
    _rewrite_spec(mp, lambda spec: _drop_keys(spec, frozenset({"additionalProperties"}), False))


@mutant("strings, arrays and page sizes are bounded in the spec", API4)
def spec_bounds_removed(mp: pytest.MonkeyPatch) -> None:
    bounds = frozenset({"maxLength", "maxItems", "maximum", "maxProperties"})
    _rewrite_spec(mp, lambda spec: _drop_keys(spec, bounds))


@mutant("every operation but the public ones requires a token", API9, JWT)
def operation_made_public(mp: pytest.MonkeyPatch) -> None:
    _rewrite_spec(mp, lambda spec: spec["paths"]["/users/me"]["get"].update(security=[]))


# --- transport hardening ---------------------------------------------------------------------


@mutant("request bodies are limited in size (413)", API4, API8)
def body_size_unlimited(mp: pytest.MonkeyPatch) -> None:
    real = Edge.__init__

    def unlimited(self: Any, app: Any, routes: Any, **options: Any) -> None:
        real(self, app, routes, **{**options, "max_body_bytes": 2**62})

    mp.setattr(Edge, "__init__", unlimited)


@mutant("request headers are limited in size (431)", API4)
def header_size_unlimited(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(hardening, "MAX_HEADER_BYTES", 2**62)


@mutant("security headers on every response", API8)
def security_headers_dropped(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(hardening, "COMMON", [])
    # What replies are given: the lists made from COMMON at import.
    mp.setattr(hardening, "_API_HEADERS", ())
    mp.setattr(hardening, "_DOCS_HEADERS", ())


@mutant("CORS grants listed origins only", API8)
def cors_allows_any_origin(mp: pytest.MonkeyPatch) -> None:
    class AnyOrigin(CORSMiddleware):
        def __init__(self, app: Any, **options: Any) -> None:
            super().__init__(app, **{**options, "allow_origins": ["*"]})

    mp.setattr(app_factory, "CORSMiddleware", AnyOrigin)


@mutant("unexpected errors leave as a bare 500 problem, no internals", API8)
def internal_errors_exposed(mp: pytest.MonkeyPatch) -> None:
    def debug_page(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        detail = "".join(traceback.format_exception(exc))
        return problem(status=500, title="Internal Server Error", detail=detail)

    mp.setattr(problems, "_unexpected", debug_page)


@mutant("the app serves the documented operations only", API9)
def undocumented_route(mp: pytest.MonkeyPatch) -> None:
    async def debug(request: Any) -> JSONResponse:
        return JSONResponse({"settings": "…"})

    class WithDebugRoute(AsyncApp):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.add_url_rule("/debug/settings", "debug", debug, methods=["GET"])

    mp.setattr(app_factory, "AsyncApp", WithDebugRoute)


# --- audit trail -----------------------------------------------------------------------------


@mutant("every read, change and sign-in is written to the audit trail", AUDIT)
def audit_events_not_written(mp: pytest.MonkeyPatch) -> None:
    async def forget(self: AuditRepository, *args: Any) -> None:
        return None

    mp.setattr(AuditRepository, "append", forget)


@mutant("PostgreSQL refuses UPDATE and DELETE on audit_events", AUDIT)
def audit_trail_mutable(mp: pytest.MonkeyPatch) -> None:
    real = migrate.upgrade

    def upgrade_then_drop_trigger(url: str, *args: Any, **kwargs: Any) -> Any:
        done = real(url, *args, **kwargs)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        return done

    mp.setattr(migrate, "upgrade", upgrade_then_drop_trigger)
