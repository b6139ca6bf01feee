"""HTTP hardening applied to every response, errors included.

- Security headers (OWASP Secure Headers): HSTS, nosniff, no framing, no referrer, same-origin
  resource policy, and ``Cache-Control: no-store`` unless a response chose otherwise — API
  replies carry personal data and tokens. API replies get a CSP that allows nothing; the
  documentation pages get one that allows what they need from this origin only.
- Request size limits: a body over the limit is a 413, oversized headers a 431, before any
  handler runs.

Both are done by the app's outermost layer (``service.edge``, in the place of Connexion's
last-resort error middleware, which it wraps), so that replies made outside the rest of the
stack get the headers too: ``/metrics``, the size refusals, and the bare 500 for an error no
handler caught.
"""

from __future__ import annotations

from collections.abc import Iterable

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
_NO_STORE = (b"cache-control", b"no-store")


def secured(headers: Iterable[tuple[bytes, bytes]], docs: bool) -> list[tuple[bytes, bytes]]:
    """A reply's ``headers`` with the security headers added (a header the reply set itself is
    kept) and any ``Server`` banner removed; ``docs``: for the documentation pages."""
    kept = [(k, v) for k, v in headers if k != b"server"]
    names = {key.lower() for key, _ in kept}
    kept.extend(pair for pair in (_DOCS_HEADERS if docs else _API_HEADERS) if pair[0] not in names)
    if b"cache-control" not in names and not docs:
        kept.append(_NO_STORE)
    return kept


def is_docs(path: str) -> bool:
    return path.startswith("/docs")


def refusal(scope: Scope, max_body_bytes: int) -> tuple[int, str] | None:
    """The size refusal a request gets before anything reads it, if any: its declared body
    over ``max_body_bytes`` (413), its headers over ``MAX_HEADER_BYTES`` (431)."""
    size = 0
    for key, value in scope["headers"]:
        size += len(key) + len(value)
        if key == b"content-length" and value.isdigit() and int(value) > max_body_bytes:
            return 413, f"The request body exceeds {max_body_bytes} bytes."
    if size > MAX_HEADER_BYTES:
        return 431, f"The request headers exceed {MAX_HEADER_BYTES} bytes."
    return None


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that stops a body (chunked, or longer than it said) past ``limit`` bytes."""
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(f"The request body exceeds {limit} bytes.")
        return message

    return counting_receive


def server_errors(app: ASGIApp) -> ASGIApp:
    """``app`` under Starlette's last-resort 500 for an error nothing else caught, as a
    problem."""
    # With a handler: Connexion 3.3's default one is a coroutine function that its
    # middleware calls without awaiting, so no reply at all would be sent.
    wrapped: ASGIApp = ServerErrorMiddleware(app, handler=_unhandled)
    return wrapped


def _unhandled(_request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    # The server logs the error: the middleware raises it again after this reply.
    return problem(
        status=500,
        title="Internal Server Error",
        detail="The server hit an unexpected condition; it has been logged.",
    )


async def refuse(send: Send, status: int, detail: str) -> None:
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
