"""Read-your-writes with a read replica: a client that has just written reads on the primary.

Every reply to a request that may write (any method but GET, HEAD, OPTIONS) carries a cookie,
``medai_read_primary``, that lives for ``window`` seconds; a request that brings it back has
its stale reads served by the primary (``persistence.db.RequestTransactions``). ``window``
exceeds the replica's staleness bound, and a replica is read only while it is within that bound
of the primary, so by the time the cookie expires the replica holds everything the client
wrote before it was set. A browser returns the cookie by itself (with ``credentials:
"include"`` from another origin of the same site); other clients echo it, as they do any cookie.

The cookie carries no identity and no secret: forging one only sends that client's reads to
the primary, which it could cause anyway. Only installed when a replica is configured.
"""

from __future__ import annotations

import math

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "medai_read_primary"
PRIMARY_ONLY_KEY = "medai.read_primary"
"""Where the scope says this request's stale reads must go to the primary."""

_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def window_for(max_lag: float) -> int:
    """Whole seconds (a cookie's Max-Age) longer than the replica's staleness bound: one more
    second absorbs the rounding and the time between the commit and the reply."""
    return math.ceil(max_lag) + 1


def primary_only(scope: Scope | None) -> bool:
    return bool(scope and scope.get(PRIMARY_ONLY_KEY))


class ReadYourWrites:
    def __init__(self, app: ASGIApp, window: int) -> None:
        self.app = app
        self.set_cookie = f"{COOKIE}=1; Max-Age={window}; Path=/; HttpOnly; Secure; SameSite=Strict"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = Headers(scope=scope).get("cookie")
        if raw and COOKIE in cookie_parser(raw):
            scope[PRIMARY_ONLY_KEY] = True
        if scope["method"] in _READ_ONLY_METHODS:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", self.set_cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
