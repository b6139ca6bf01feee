"""Turns a bearer token into the caller, for Connexion's security middleware.

The spec declares one OAuth2 scheme whose scopes are the roles, so Connexion itself answers
403 to a role the operation does not list (scopes on an ``http`` bearer scheme are ignored,
Connexion issue #1515). The token's signature and claims are checked first, then the user's
current role, active flag and session version are read from PostgreSQL: deactivation, a role
change or a password change end older tokens immediately, on every instance.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from connexion.exceptions import ProblemException
from connexion.security import OAuthSecurityHandler

from domain.tokens import InvalidToken
from persistence.db import DatabaseUnavailable
from service.runtime import from_scope

log = logging.getLogger(__name__)

_CACHE_KEY = "medai.token_info"


async def token_info(token: str, request: Any) -> dict[str, Any] | None:
    """Return the caller for a valid access token, ``None`` (401) otherwise."""
    scope = request.scope
    # With several security requirements (doctor OR admin) Connexion calls this once per
    # requirement; the answer for one request cannot change, so look it up once.
    cached = scope.get(_CACHE_KEY)
    if cached is not None and cached[0] == token:
        return cached[1]  # type: ignore[no-any-return]
    runtime = from_scope(scope)
    try:
        claims = runtime.verified_tokens.claims(token)
    except InvalidToken as exc:
        log.info("access token refused: %s", exc)
        return None
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
    return info


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
