"""The app's outermost layer: what every request gets, whoever answers it, in one ASGI layer.

In the place of Connexion's last-resort error middleware, which it wraps (``Edge`` is built
with the app's options and put in that middleware's place in the list: ``service.app``):

- a request id (``service.observability.request_id``), in the scope for outgoing calls and on
  the reply;
- the size limits (``service.hardening``): a declared body or headers too large are refused
  before anything runs, a body that grows past the limit while it is read is stopped;
- ``/metrics`` (``service.observability``);
- the security headers on every reply (``service.hardening``): the API's, the size refusals,
  ``/metrics``, and the bare 500 for an error no handler caught;
- the metrics and the access-log line of every request, refusals and errors included.

These were separate middlewares; each layer costs every request a call, a coroutine and a
wrapped ``send``, so they share one. The order of their effects is the one they had as layers:
the request id and headers go on every reply, the size refusals are counted and logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handlers.context import REQUEST_ID_KEY
from service import hardening
from service.observability import (
    METRICS_PATH,
    REQUEST_ID_HEADER,
    Recorder,
    request_id,
    send_metrics,
)


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, tuple[str, str]],
        *,
        max_body_bytes: int,
        serve_metrics: bool = True,
    ) -> None:
        self.app = hardening.server_errors(app)
        # /metrics under its own last-resort 500, as every other reply.
        self.metrics = hardening.server_errors(_metrics)
        self.recorder = Recorder(routes)
        self.max_body_bytes = max_body_bytes
        self.serve_metrics = serve_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        rid = request_id(scope["headers"])
        scope[REQUEST_ID_KEY] = rid
        id_header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        path = scope["path"]
        docs = hardening.is_docs(path)
        # Connexion's routing and security write into this dict (their scope is a shallow copy
        # of ours), which is how the operation and the caller are known afterwards.
        extensions = scope.setdefault("extensions", {})
        scraped = self.serve_metrics and path == METRICS_PATH
        status = 500

        async def send_from_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = hardening.secured(
                    [*message.get("headers", ()), id_header], docs
                )
            await send(message)

        try:
            if scraped:
                await self.metrics(scope, receive, send_from_edge)
            elif (refusal := hardening.refusal(scope, self.max_body_bytes)) is not None:
                await hardening.refuse(send_from_edge, *refusal)
            else:
                limited = hardening.limited(receive, self.max_body_bytes)
                await self.app(scope, limited, send_from_edge)
        finally:
            self.recorder.record(
                scope["method"], extensions, scraped, status, perf_counter() - started, rid
            )


async def _metrics(scope: Scope, _receive: Receive, send: Send) -> None:
    await send_metrics(scope, send)
