"""Every error leaves as RFC 9457 problem+json; this is the one place that decides how.

Domain errors carry their status; database outages become 503 with Retry-After; a request body
that is not UTF-8 is the client's mistake (400), not a crash; anything unexpected is a bare 500
with no internals, logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.problem import problem

from domain.errors import DomainError, ServiceUnavailable, TooManyRequests
from persistence.db import DatabaseUnavailable

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """A request body grew past the configured limit while being read (413)."""


def _domain_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests | ServiceUnavailable):
        headers["Retry-After"] = str(exc.retry_after)
    return problem(
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        headers=headers or None,
        ext=exc.extensions or None,
    )


def _database_unavailable(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.warning("database unavailable: %s", exc)
    return problem(
        status=503,
        title="Service Unavailable",
        detail="The database is not reachable right now; please retry shortly.",
        headers={"Retry-After": "2"},
    )


def _undecodable_body(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(
        status=400,
        title="Bad Request",
        detail="The request body is not valid UTF-8.",
    )


def _body_too_large(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return problem(status=413, title="Content Too Large", detail=str(exc))


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
        type=exc.type,
        instance=exc.instance,
        headers=exc.headers,
        ext=exc.ext,
    )


def _unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error", exc_info=exc)
    return problem(
        status=500,
        title="Internal Server Error",
        detail="The server hit an unexpected condition; it has been logged.",
    )


def register(app: AsyncApp) -> None:
    app.add_error_handler(DomainError, _domain_error)
    app.add_error_handler(ProblemException, _connexion_problem)
    app.add_error_handler(DatabaseUnavailable, _database_unavailable)
    app.add_error_handler(UnicodeDecodeError, _undecodable_body)
    app.add_error_handler(BodyTooLarge, _body_too_large)
    app.add_error_handler(Exception, _unexpected)


def problem_body(status: int, title: str, detail: str, **ext: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, **ext}


def problem_bytes(status: int, title: str, detail: str, **ext: Any) -> bytes:
    """A problem body for code that answers outside Connexion (plain ASGI middleware)."""
    return orjson.dumps(problem_body(status, title, detail, **ext))
