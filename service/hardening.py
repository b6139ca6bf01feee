"""HTTP hardening applied to every response, errors included.

- Security headers (OWASP Secure Headers): HSTS, nosniff, no framing, no referrer, same-origin
  resource policy, and ``Cache-Control: no-store`` unless a response chose otherwise — API
  replies carry personal data and tokens. API replies get a CSP that allows nothing; the
  documentation pages get one that allows what they need from this origin only.
- Request size limits: a body over the limit is a 413, oversized headers a 431, before any
  handler runs.

The headers are added by the app's outermost layer (``HardenedServerErrors``, in the place of
Connexion's last-resort error middleware), so that replies made outside the rest of the stack
get them too: ``/metrics`` (answered by the observability middleware), and the bare 500 for an
error no handler caught. ``HardeningMiddleware`` sits further in, where its size refusals are
still logged and counted.
"""

from __future__ import annotations

from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.problem import problem
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import BodyTooLarge, problem_bytes

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' "
    b"https://fonts.googleapis.com; img-src 'self' data:; font-src 'self' data:; "
    b"worker-src 'self' blob:; frame-ancestors 'none'"
)
COMMON = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
MAX_HEADER_BYTES = 16 * 1024
_API_HEADERS = (*COMMON, (b"content-security-policy", API_CSP))
_DOCS_HEADERS = (*COMMON, (b"content-security-policy", DOCS_CSP))


def hardened(send: Send, path: str) -> Send:
    """``send`` with the security headers added to the response start (a header the reply
    set itself is kept) and any ``Server`` banner removed."""
    docs = path.startswith("/docs")
    extra = _DOCS_HEADERS if docs else _API_HEADERS

    async def send_hardened(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"server"]
            names = {key.lower() for key, _ in headers}
            headers.extend(pair for pair in extra if pair[0] not in names)
            if b"cache-control" not in names and not docs:
                headers.append((b"cache-control", b"no-store"))
            message["headers"] = headers
        await send(message)

    return send_hardened


class SecurityHeaders:
    """The security headers on every HTTP reply of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, hardened(send, scope["path"]))


class HardenedServerErrors:
    """Connexion's outermost middleware, its last-resort 500 for an error nothing else caught,
    wrapped in the security headers; it takes that middleware's place in the app's list, which
    makes the headers the last thing added to every reply, whoever made it."""

    def __init__(self, app: ASGIApp) -> None:
        # With a handler: Connexion 3.3's default one is a coroutine function that its
        # middleware calls without awaiting, so no reply at all would be sent.
        self.app = SecurityHeaders(ServerErrorMiddleware(app, handler=_unhandled))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class HardeningMiddleware:
    """The size limits; and the headers too when ``headers`` (the app leaves those to
    ``HardenedServerErrors``, which covers more replies)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, *, headers: bool = True) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.headers:
            send = hardened(send, scope["path"])
        refusal = self._refusal(scope)
        if refusal is not None:
            status, detail = refusal
            await _respond(send, status, detail)
            return
        await self.app(scope, self._limited(receive), send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        size = 0
        for key, value in scope["headers"]:
            size += len(key) + len(value)
            if key == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return 413, f"The request body exceeds {self.max_body_bytes} bytes."
        if size > MAX_HEADER_BYTES:
            return 431, f"The request headers exceed {MAX_HEADER_BYTES} bytes."
        return None

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(f"The request body exceeds {limit} bytes.")
            return message

        return counting_receive


def _unhandled(_request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    # The server logs the error: the middleware raises it again after this reply.
    return problem(
        status=500,
        title="Internal Server Error",
        detail="The server hit an unexpected condition; it has been logged.",
    )


async def _respond(send: Send, status: int, detail: str) -> None:
    titles = {413: "Content Too Large", 431: "Request Header Fields Too Large"}
    body = problem_bytes(status, titles[status], detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
