"""Admission control: past a bound on requests in flight, refuse at once instead of queueing.

A worker is one event loop. Offered more requests than it can finish, it would accept them all
and every request would wait behind the others, in the loop and for the database pool, so
latency grows with the backlog for everyone and clients time out while the work is still done.
Refusing the excess with an immediate 503 and ``Retry-After`` keeps the admitted requests as
fast as at capacity and tells a load balancer or client to try elsewhere or later.

The bound is per worker (``MEDAI_MAX_IN_FLIGHT``). It also bounds the wait for a database
connection: at most ``max_in_flight - MEDAI_DB_POOL_SIZE`` requests of a worker can be queued
for its pool. Probes and ``/metrics`` are never refused: a worker at capacity is alive, and
restarting it (liveness) or hiding it from the scraper would make an overload worse.

uvicorn's ``limit_concurrency`` was not used: it counts connections and tasks rather than
requests, refuses the probes too, and answers plain text without ``Retry-After``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import problem_bytes

EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
RETRY_AFTER_SECONDS = 1
DETAIL = "The service is at capacity right now; please retry shortly."


class AdmissionControl:
    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        # One event loop per worker: a plain counter, changed only between awaits.
        self.in_flight = 0
        self._body = problem_bytes(503, "Service Unavailable", DETAIL)
        self._headers = (
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            # New messages each time: the middlewares outside add headers to them in place.
            headers = list(self._headers)
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": self._body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
