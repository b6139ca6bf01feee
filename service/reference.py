"""``/docs/reference``: the API reference as one self-contained HTML page, next to Swagger UI.

Redocly builds it from the spec (``npm run docs`` in ``clients/typescript`` writes
``openapi/reference.html``; CI and the image build it, it is not committed). The page carries
its scripts inline, so it renders with no network. It is served here, outside the spec, like a
static file: it is documentation of the contract, not part of it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import problem_bytes

REFERENCE_PATH = "/docs/reference"
NOT_BUILT = (
    "The HTML reference has not been built: run `npm ci && npm run docs` in clients/typescript."
)


class ReferencePage:
    def __init__(self, app: ASGIApp, page: Path) -> None:
        self.app = app
        # Looked up once, when the app is built, so requests never touch the disk to find out.
        self.page = page if page.is_file() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != REFERENCE_PATH:
            await self.app(scope, receive, send)
            return
        await self._reply(scope["method"])(scope, receive, send)

    def _reply(self, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _problem(405, "Method Not Allowed", "Only GET and HEAD.", {"Allow": "GET, HEAD"})
        if self.page is None:
            return _problem(404, "Not Found", NOT_BUILT)
        return FileResponse(self.page, media_type="text/html; charset=utf-8")


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        problem_bytes(status, title, detail),
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )
