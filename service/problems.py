"""Every error leaves as RFC 9457 problem+json; this is the one place that decides how.

Domain errors carry their status; database outages become 503 with Retry-After; a request body
that is not UTF-8 is the client's mistake (400), not a crash; anything unexpected is a bare 500
with no internals, logged with its traceback.

Every problem names its kind in ``type``, from the catalogue in the contract
(``components/schemas/*Problem``, one page each under ``/docs/problems/``): ``problem_type``
below is the one mapping from a status and the extension members of an error to its kind. Types
are relative URI references (RFC 9457 §3.1.1): the same string on every deployment, so clients
can switch on it, and resolvable against the server that sent them.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from domain.errors import (
    DatabaseUnavailable,
    DomainError,
    ServiceUnavailable,
    TooManyRequests,
    database_unreachable,
)

log = logging.getLogger(__name__)


PROBLEMS_PATH = "/docs/problems"

# The kind a status means when no extension member says more.
_BY_STATUS = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    502: "upstream-failed",
    503: "unavailable",
    504: "upstream-timeout",
}
# Kinds told apart by an extension member only they carry, in order: (status, member, the
# member's values that tell, or None for any) → kind.
_BY_MEMBER: tuple[tuple[int, str, frozenset[str] | None, str], ...] = (
    (401, "challenge_token", None, "mfa-required"),
    (403, "refused_fields", None, "fields-refused"),
    (403, "email_verified", None, "email-not-verified"),
    (409, "conflict", None, "slot-taken"),
    (409, "allowed_transitions", None, "transition-not-allowed"),
    (409, "current_status", None, "not-changeable"),
    (422, "invalid_field", frozenset({"model", "features"}), "model-input-refused"),
    # A booking the doctor's availability refuses: one kind per rule (domain.scheduling.Rule).
    *(
        (422, "availability_rule", frozenset({kind}), kind)
        for kind in (
            "outside-working-hours",
            "in-time-off",
            "inside-buffer",
            "inside-minimum-notice",
            "beyond-horizon",
        )
    ),
)
KINDS = frozenset(_BY_STATUS.values()) | frozenset(rule[3] for rule in _BY_MEMBER)
"""Every kind of problem the service answers with."""


def problem_type(status: int, extensions: dict[str, Any] | None = None) -> str:
    """The ``type`` of a problem with this status and these extension members."""
    for member_status, member, values, kind in _BY_MEMBER:
        value = (extensions or {}).get(member)
        if status == member_status and value is not None and (values is None or value in values):
            return f"{PROBLEMS_PATH}/{kind}"
    by_status = _BY_STATUS.get(status)
    # A status the contract does not list (431 from the header limits) keeps the RFC's default.
    return "about:blank" if by_status is None else f"{PROBLEMS_PATH}/{by_status}"


class BodyTooLarge(Exception):
    """A request body grew past the configured limit while being read (413)."""


def _domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests | ServiceUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    if "challenge_token" in exc.extensions:
        # A credential of sorts (the second sign-in step's): never cached, like tokens.
        headers["Cache-Control"] = "no-store"
    return problem(
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type=problem_type(exc.status, exc.extensions),
        headers=headers or None,
        ext=exc.extensions or None,
    )


def _database_unavailable(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.warning("database unavailable: %s", exc)
    return _domain_error(_request, database_unreachable())


def _undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(
        status=400,
        title="Bad Request",
        detail="The request body is not valid UTF-8.",
        type=problem_type(400),
    )


def _body_too_large(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(status=413, title="Content Too Large", detail=str(exc), type=problem_type(413))


# Connexion's validation messages quote the offending value, which may be megabytes long; the
# contract caps `detail` (Problem.detail maxLength) and a reply should not echo a payload back.
MAX_DETAIL = 500


def _connexion_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    detail = exc.detail
    if isinstance(detail, str) and len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "\u2026"
    return problem(
        status=exc.status,
        title=exc.title,
        detail=detail,
        type=problem_type(exc.status, exc.ext),
        instance=exc.instance,
        headers=exc.headers,
        ext=exc.ext,
    )


def _http_exception(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Starlette's own refusals (a path the contract does not have: 404)."""
    assert isinstance(exc, HTTPException)
    return problem(
        status=exc.status_code,
        title=HTTPStatus(exc.status_code).phrase,
        detail=exc.detail,
        type=problem_type(exc.status_code),
        headers=dict(exc.headers) if exc.headers else None,
    )


def _unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error", exc_info=exc)
    return problem(
        status=500,
        title="Internal Server Error",
        detail="The server hit an unexpected condition; it has been logged.",
        type=problem_type(500),
    )


def register(app: AsyncApp) -> None:
    app.add_error_handler(DomainError, _domain_error)
    app.add_error_handler(ProblemException, _connexion_problem)
    app.add_error_handler(HTTPException, _http_exception)
    app.add_error_handler(DatabaseUnavailable, _database_unavailable)
    app.add_error_handler(UnicodeDecodeError, _undecodable_body)
    app.add_error_handler(BodyTooLarge, _body_too_large)
    app.add_error_handler(Exception, _unexpected)


def problem_body(status: int, title: str, detail: str, **ext: Any) -> dict[str, Any]:
    return {
        "type": problem_type(status, ext),
        "title": title,
        "status": status,
        "detail": detail,
        **ext,
    }


def problem_bytes(status: int, title: str, detail: str, **ext: Any) -> bytes:
    """A problem body for code that answers outside Connexion (plain ASGI middleware)."""
    return orjson.dumps(problem_body(status, title, detail, **ext))


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, whose refusal of a preflight (an origin, method or header
    not allowed) is a problem like every other error instead of a ``text/plain`` 400."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode()  # "Disallowed CORS origin, method"
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-type", "content-length")
        }
        return Response(
            problem_bytes(400, "Bad Request", f"{refused}: not allowed for this origin."),
            status_code=400,
            headers=headers,
            media_type="application/problem+json",
        )
