"""A request quota per client address, announced on every response (``MEDAI_RATE_LIMIT``).

OWASP API4 (unrestricted resource consumption): each client address may send at most
``quota`` requests per window of ``window`` seconds to one worker; past that, 429 with
``Retry-After`` until the window ends. Every response says where the client stands, with the
IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers, structured fields):

    RateLimit-Policy: "per-client";q=600;w=60
    RateLimit: "per-client";r=599;t=42        (requests left, seconds until the window ends)

Fixed windows aligned on the monotonic clock, counted in one dict per worker that is emptied
when the window turns, so memory is bounded by the addresses seen in one window and there is
no timer, task or lock (one event loop per worker). Per worker and per instance, not shared:
the quota bounds what one client costs one worker, which is what it protects; a fleet-wide
quota per user belongs to the ingress. Sign-in, sign-up and predictions keep their own
stricter limits, counted in PostgreSQL across instances.

Probes and ``/metrics`` are exempt. Off by default (``MEDAI_RATE_LIMIT=0``): benchmarks and
tests send thousands of requests a minute from one address.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import problem_bytes

POLICY = "per-client"
# As for admission control: a throttled liveness probe would restart a healthy worker.
EXEMPT_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
DETAIL = "Too many requests from this address; retry after the number of seconds in Retry-After."


class RateLimit:
    def __init__(
        self,
        app: ASGIApp,
        quota: int,
        window: int = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.quota = quota
        self.window = window
        self._clock = clock
        self._current = -1
        self._counts: dict[str, int] = {}
        self._policy = f'"{POLICY}";q={quota};w={window}'.encode()
        self._body = problem_bytes(429, "Too Many Requests", DETAIL)

    def _count(self, address: str) -> tuple[int, int]:
        """Requests left to ``address`` in this window after this one (-1: over), and the
        seconds until the window ends."""
        now = self._clock()
        current = int(now // self.window)
        if current != self._current:
            self._current, self._counts = current, {}
        used = self._counts.get(address, 0) + 1
        self._counts[address] = used
        reset = max(1, math.ceil((current + 1) * self.window - now))
        return self.quota - used, reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        left, reset = self._count(str(client[0]) if client else "")
        state = f'"{POLICY}";r={max(left, 0)};t={reset}'.encode()
        announced = [(b"ratelimit-policy", self._policy), (b"ratelimit", state)]
        if left < 0:
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(self._body)).encode()),
                (b"retry-after", str(reset).encode()),
                *announced,
            ]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": self._body})
            return

        async def announce(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *announced]
            await send(message)

        await self.app(scope, receive, announce)
