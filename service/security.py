"""Turns a bearer token into the caller, for Connexion's security middleware.

The spec declares one OAuth2 scheme whose scopes are the roles, so Connexion itself answers
403 to a role the operation does not list (scopes on an ``http`` bearer scheme are ignored,
Connexion issue #1515). The token's signature and claims are checked first, then the user's
current role, active flag and session version are read from PostgreSQL: deactivation, a role
change or a password change end older tokens immediately, on every instance.

Every 401 carries an RFC 6750 challenge (``WWW-Authenticate: Bearer realm="medai"``, added by
``BearerChallenge`` to whichever layer answered). A bearer token that is refused adds
``error="invalid_token"`` and an ``error_description`` (the problem's ``detail`` says the
same) telling an expired token, which the client should refresh, from an invalid or revoked
one, which needs a new sign-in.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from connexion.exceptions import OAuthProblem, ProblemException
from connexion.security import OAuthSecurityHandler
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.tokens import ExpiredToken, InvalidToken
from persistence.db import DatabaseUnavailable
from service.runtime import from_scope

log = logging.getLogger(__name__)

_CACHE_KEY = "medai.token_info"

REALM = "medai"
CHALLENGE = f'Bearer realm="{REALM}"'
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
        raise ProblemException(
            status=503,
            title="Service Unavailable",
            detail="The database is not reachable right now; please retry shortly.",
            headers={"Retry-After": "2"},
        ) from None
    info: dict[str, Any] | None = None
    if (
        state is not None
        and state["active"]
        and state["session_live"]
        and state["session_version"] == claims.session_version
    ):
        role = state["role"]
        info = {"sub": str(claims.user_id), "role": role, "scope": [role]}
    scope[_CACHE_KEY] = (token, info)
    if info is None:
        # A signed, unexpired token of a sign-in that ended, a changed role or password, or
        # a deactivated account: a new sign-in is needed either way.
        raise RefusedToken(expired=False)
    return info


class BearerChallenge:
    """Adds the RFC 6750 challenge to every 401 that carries none: no or unusable
    credentials (Connexion's security layer) and failed sign-ins or refreshes alike."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def challenged(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = list(message.get("headers", []))
                if not any(key.lower() == b"www-authenticate" for key, _ in headers):
                    headers.append((b"www-authenticate", CHALLENGE.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, challenged)


class OAuthSecurity(OAuthSecurityHandler):  # type: ignore[misc]
    """Connexion's OAuth2 handler, told once per function which keyword arguments it takes:
    Connexion 3.3 inspects the token function's signature twice on every request."""

    @staticmethod
    @functools.cache
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        accepts: bool = OAuthSecurityHandler._accepts_kwarg(func, keyword)
        return accepts


SECURITY_MAP = {"oauth2": OAuthSecurity}
"""For ``security_map``: the handler Connexion uses for the spec's OAuth2 scheme."""
