"""Request id, access log line and metrics for every request, and ``/metrics`` itself.

Done by the app's outermost layer (``service.edge``), so that every reply is counted and
logged, errors included. It runs on every request, so it stays lean: no per-request objects
beyond the access line, label children cached per (operation, method, status).

``/metrics`` is answered here, outside the spec: Prometheus' ``text/plain; version=…`` content
type cannot be described in the contract without tripping the response checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from starlette.types import Scope, Send

from service import metrics
from service.logs import AccessLog
from service.resolver import handler_name

"""Where the request id waits in the ASGI scope (for the ML client's outgoing header)."""

REQUEST_ID_HEADER = b"x-request-id"
METRICS_PATH = "/metrics"
NO_OPERATION = "none"
_UNROUTED: tuple[str | None, str | None] = (None, None)

_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# Anything else in the method label would let a client create series at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_HTTP_METHODS = frozenset(method.lower() for method in _METHODS)


def operation_routes(spec_file: Path) -> dict[str, tuple[str, str]]:
    """Connexion's routing names the handler (``handlers.users.get_user``, by the same rule as
    ``service.resolver``); logs and metrics want the operationId and the path template."""
    spec = yaml.safe_load(spec_file.read_text())
    routes: dict[str, tuple[str, str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS or "operationId" not in operation:
                continue
            routes[handler_name(operation)] = (operation["operationId"], path)
    return routes


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is a safe token, else a fresh one: the value ends
    up in logs and in headers to other services, so nothing else is trusted."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _VALID_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    # The shape of uuid4().hex (32 hex digits, 128 random bits) without building a UUID.
    return os.urandom(16).hex()


class Recorder:
    """The metrics and the access-log line of a finished request."""

    def __init__(self, routes: Mapping[str, tuple[str, str]]) -> None:
        self.routes: dict[str, tuple[str | None, str | None]] = dict(routes)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.access_log = AccessLog()

    def record(
        self,
        method: str,
        extensions: dict[str, Any],
        scraped: bool,
        status: int,
        seconds: float,
        rid: str,
    ) -> None:
        routing = extensions.get("connexion_routing")
        handler = routing.get("operation_id") if routing else None
        # Unmatched paths are not logged: they are client-chosen and may carry personal data.
        operation, route = self.routes.get(handler, _UNROUTED) if handler else _UNROUTED
        # Scrapes are logged but not counted: they would dominate an idle service's figures.
        if scraped:
            route = METRICS_PATH
        else:
            key = (operation or NO_OPERATION, method if method in _METHODS else "other", status)
            children = self._children.get(key)
            if children is None:
                labels = (key[0], key[1], str(status))
                children = (
                    metrics.HTTP_REQUESTS.labels(*labels),
                    metrics.HTTP_DURATION.labels(*labels),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(seconds)
        if self.access_log.enabled:
            context = extensions.get("connexion_context")
            self.access_log.write(
                method,
                route,
                operation,
                status,
                seconds,
                rid,
                context.get("user") if context else None,
            )


async def send_metrics(scope: Scope, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        body, status, content_type = b"", 405, b"text/plain; charset=utf-8"
        headers = [(b"allow", b"GET, HEAD")]
    else:
        body, status, content_type = metrics.render(), 200, metrics.CONTENT_TYPE.encode()
        headers = []
    headers += [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
