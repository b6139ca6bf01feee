"""Domain errors. Each maps to one HTTP status in ``service.problems`` and nowhere else.

DomainError
 ├── InvalidRequest          400  the request is well-formed but a rule rejects a value
 ├── Unauthenticated         401  no valid credentials (login failed, token refused)
 ├── Forbidden               403  authenticated, but the role may not do this
 ├── NotFound                404  absent, or present but not visible to the caller
 ├── Conflict                409  the current state forbids it (duplicate, overlap, lifecycle)
 ├── PreconditionFailed      412  If-Match does not match the current version
 ├── UnprocessableRequest    422  e.g. an idempotency key reused with a different body
 ├── PreconditionRequired    428  If-Match missing where required
 ├── TooManyRequests         429  throttled; ``retry_after`` seconds
 ├── BadGateway              502  a dependency answered with something unusable
 ├── ServiceUnavailable      503  a dependency is down; ``retry_after`` seconds
 └── GatewayTimeout          504  a dependency gave no answer in time
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        # Extra RFC 9457 members, e.g. "allowed" transitions or "conflicts_with".
        self.extensions = extensions


class InvalidRequest(DomainError):
    status, title = 400, "Bad Request"


class Unauthenticated(DomainError):
    status, title = 401, "Unauthorized"


class Forbidden(DomainError):
    status, title = 403, "Forbidden"


class NotFound(DomainError):
    status, title = 404, "Not Found"


class Conflict(DomainError):
    status, title = 409, "Conflict"


class PreconditionFailed(DomainError):
    status, title = 412, "Precondition Failed"


class UnprocessableRequest(DomainError):
    status, title = 422, "Unprocessable Content"


class PreconditionRequired(DomainError):
    status, title = 428, "Precondition Required"


class TooManyRequests(DomainError):
    status, title = 429, "Too Many Requests"

    def __init__(self, detail: str, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = retry_after


class BadGateway(DomainError):
    status, title = 502, "Bad Gateway"


class ServiceUnavailable(DomainError):
    status, title = 503, "Service Unavailable"

    def __init__(self, detail: str, retry_after: int = 1, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = retry_after


class GatewayTimeout(DomainError):
    status, title = 504, "Gateway Timeout"


# What the store raises that is not a rule's refusal: not DomainErrors (no status of their
# own here), answered as outages by ``service.problems`` unless a use case handles them.


class DatabaseUnavailable(Exception):
    """The database could not be reached in time; the request may be retried later."""


class Contention(DatabaseUnavailable):
    """The database aborted the transaction to break a deadlock (or a serialization conflict)
    with a concurrent one; run again, it may well succeed. A use case that expects such races
    retries; elsewhere it is answered like an outage (503, retry later)."""


def database_unreachable() -> ServiceUnavailable:
    """The one reply to a database outage, wherever it is noticed."""
    return ServiceUnavailable(
        "The database is not reachable right now; please retry shortly.", retry_after=2
    )
