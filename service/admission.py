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

The gate is the app's outermost layer (:func:`outermost`), in front of Connexion's own. Past
capacity most requests are refusals (at 3x, two in three), and each one takes CPU from the
admitted ones on the same core: a refusal must cost a small fraction of a served request, so
it is a pre-built reply with no routing, no request id and no per-request log line.
Refusals are counted (``medai_http_refused_total``) and logged as one aggregated warning at
most every ``REPORT_INTERVAL`` seconds: a line per refusal would grow the log, and the work,
with the overload. The reply carries the security headers the hardening layer would add.

uvicorn's ``limit_concurrency`` was not used: it counts connections and tasks rather than
requests, refuses the probes too, and answers plain text without ``Retry-After``.
"""

from __future__ import annotations

import functools
import logging
from time import monotonic
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from service import metrics
from service.hardening import API_CSP, COMMON
from service.problems import problem_bytes

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
RETRY_AFTER_SECONDS = 1
DETAIL = "The service is at capacity right now; please retry shortly."
REPORT_INTERVAL = 10.0


class AdmissionControl:
    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        # One event loop per worker: plain counters, changed only between awaits.
        self.in_flight = 0
        self.refused = 0  # since the last report
        self._report_after = 0.0
        self._count = metrics.HTTP_REFUSED.inc
        self._body = problem_bytes(503, "Service Unavailable", DETAIL)
        self._headers = (
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            *COMMON,
            (b"content-security-policy", API_CSP),
            (b"cache-control", b"no-store"),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        # New messages each time: the server may keep or change what it is handed.
        await send({"type": "http.response.start", "status": 503, "headers": list(self._headers)})
        await send({"type": "http.response.body", "body": self._body})
        self._count()
        self.refused += 1
        now = monotonic()
        if now >= self._report_after:
            log.warning(
                "at capacity: %d request(s) refused with 503 (%d in flight, the bound)",
                self.refused,
                self.max_in_flight,
            )
            self.refused = 0
            self._report_after = now + REPORT_INTERVAL


def outermost(max_in_flight: int) -> Any:
    """Admission control as the first entry of the list of middlewares a Connexion app is
    built with (its public ``middlewares`` argument): in front of the edge (the last-resort
    error handler, access log and metrics) and of every middleware the app adds, so that a
    refusal costs the least. Connexion's ``add_middleware`` positions all lie inside that."""
    return functools.partial(AdmissionControl, max_in_flight=max_in_flight)
