"""Turns a bearer token into the caller, and refuses callers whose role an operation does not
list, for Connexion's security middleware.

The published contract has a plain ``http``/``bearer`` scheme, and each operation open to some
roles only lists them in ``x-roles``. Connexion ignores scopes on ``http`` schemes (issue
#1515), so the app hands Connexion a copy of the contract (``enforced``) whose security
requirements carry those roles, and its ``http`` bearer handler here (``RoleBearer``) checks the
caller's role against them: one mechanism, from the spec, for every operation; no handler
checks a role itself.

The token's signature and claims are checked first, then the user's current role, active flag
and session version are read from PostgreSQL: deactivation, a role change or a password change
end older tokens immediately, on every instance.

Every 401 carries an RFC 6750 challenge (``WWW-Authenticate: Bearer realm="medai"``, added by
``challenged``, in the app's inner layer, to whichever layer answered). A bearer token that is
refused adds ``error="invalid_token"`` and an ``error_description`` (the problem's ``detail``
says the same) telling an expired token, which the client should refresh, from an invalid or
revoked one, which needs a new sign-in.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from connexion.exceptions import OAuthProblem, ProblemException
from connexion.security import NO_VALUE, BearerSecurityHandler
from starlette.types import Message, Send

from domain.credentials import ExpiredToken, InvalidToken
from domain.errors import DatabaseUnavailable, database_unreachable
from service.runtime import from_scope

log = logging.getLogger(__name__)

_CACHE_KEY = "medai.token_info"

REALM = "medai"
CHALLENGE = f'Bearer realm="{REALM}"'
CHALLENGE_BYTES = CHALLENGE.encode()
EXPIRED = "The access token has expired; refresh it or sign in again."
INVALID = "The access token is invalid or has been revoked; sign in again."


class RefusedToken(OAuthProblem):  # type: ignore[misc]
    """A 401 for a bearer token that was presented and refused (RFC 6750 §3.1)."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__(detail=EXPIRED if expired else INVALID)
        # Quoted strings may hold neither '"' nor '\\' (RFC 6750 §3): plain fixed words.
        description = "The access token expired" if expired else "The access token is invalid"
        self.headers = {
            "WWW-Authenticate": (
                f'{CHALLENGE}, error="invalid_token", error_description="{description}"'
            )
        }


async def token_info(token: str, request: Any) -> dict[str, Any] | None:
    """Return the caller for a valid access token; raise ``RefusedToken`` (401) otherwise.
    (``None`` would be a 401 too, with Connexion's wording and no RFC 6750 error.)"""
    scope = request.scope
    # With several security requirements (doctor OR admin) Connexion calls this once per
    # requirement; the answer for one request cannot change, so look it up once.
    cached = scope.get(_CACHE_KEY)
    if cached is not None and cached[0] == token:
        if cached[1] is None:
            raise RefusedToken(expired=False)
        return cached[1]  # type: ignore[no-any-return]
    runtime = from_scope(scope)
    try:
        claims = runtime.verified_tokens.claims(token)
    except InvalidToken as exc:
        # PyJWT's reason only (never the token): it names a claim or the signature.
        log.info("access token refused: %s", exc)
        raise RefusedToken(expired=isinstance(exc, ExpiredToken)) from None
    try:
        async with runtime.database.single_read() as uow:
            state = await uow.users.session_state(claims.user_id, claims.session_id)
    except DatabaseUnavailable:
        outage = database_unreachable()
        raise ProblemException(
            status=outage.status,
            title=outage.title,
            detail=outage.detail,
            headers={"Retry-After": str(outage.retry_after)},
        ) from None
    info: dict[str, Any] | None = None
    if (
        state is not None
        and state["active"]
        and state["session_live"]
        and state["session_version"] == claims.session_version
    ):
        role = state["role"]
        info = {
            "sub": str(claims.user_id),
            "role": role,
            "scope": [role],
            "email_verified": state["email_verified"],
        }
    scope[_CACHE_KEY] = (token, info)
    if info is None:
        # A signed, unexpired token of a sign-in that ended, a changed role or password, or
        # a deactivated account: a new sign-in is needed either way.
        raise RefusedToken(expired=False)
    return info


ROLES = frozenset({"patient", "doctor", "admin"})
ROLES_KEY = "x-roles"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def enforced(published: Mapping[str, Any]) -> dict[str, Any]:
    """The contract as Connexion is given it: the published document with each operation's
    ``x-roles`` copied into its security requirements (as the scopes of the bearer scheme),
    where ``RoleBearer`` finds them. Refuses a contract whose roles cannot be enforced."""
    spec: dict[str, Any] = copy.deepcopy(dict(published))
    default = spec.get("security", [])
    for path, item in spec.get("paths", {}).items():
        for method in _HTTP_METHODS:
            operation = item.get(method)
            if operation is None or ROLES_KEY not in operation:
                continue
            where = f"{method.upper()} {path}"
            roles = operation[ROLES_KEY]
            unknown = set(roles) - ROLES
            if not roles or unknown:
                raise ValueError(f"{where}: x-roles must name roles of {sorted(ROLES)}")
            requirements = operation.get("security", default)
            if not requirements or any(not requirement for requirement in requirements):
                raise ValueError(f"{where}: x-roles on an operation open without a token")
            operation["security"] = [
                {scheme: list(roles) for scheme in requirement} for requirement in requirements
            ]
    return spec


def _forbidden(roles: list[str]) -> ProblemException:
    listed = " or ".join(roles)
    return ProblemException(status=403, title="Forbidden", detail=f"Only a {listed} may do this.")


class RoleBearer(BearerSecurityHandler):  # type: ignore[misc]
    """Connexion's ``http`` bearer handler, with the caller's role checked against the roles
    of the requirement (any one of them; none listed: any role)."""

    def get_fn(
        self, security_scheme: dict[str, Any], required_scopes: list[str] | None
    ) -> Callable[[Any], Any]:
        # Looked up here, when the app is built, so that a test may replace ``token_info``.
        check = self._generic_check(token_info, "Provided token is not valid")
        roles = list(required_scopes or [])

        async def verify(request: Any) -> Any:
            auth_type, token = self.get_auth_header_value(request)
            if auth_type != "bearer":
                return NO_VALUE
            info = await check(request, token)
            if roles and info["role"] not in roles:
                raise _forbidden(roles)
            return info

        return verify


SECURITY_MAP = {"bearer": RoleBearer}
"""For ``security_map``: the handler Connexion uses for the spec's ``http`` bearer scheme."""


def challenged(send: Send) -> Send:
    """``send`` adding the RFC 6750 challenge to every 401 that carries none: no or unusable
    credentials (Connexion's security layer) and failed sign-ins or refreshes alike."""

    async def send_challenged(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 401:
            headers = list(message.get("headers", []))
            if not any(key.lower() == b"www-authenticate" for key, _ in headers):
                headers.append((b"www-authenticate", CHALLENGE_BYTES))
                message["headers"] = headers
        await send(message)

    return send_challenged
