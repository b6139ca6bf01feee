"""``/docs/reference``: the API reference as one self-contained HTML page, next to Swagger UI.

Redocly builds it from the spec (``npm run docs`` in ``clients/typescript`` writes
``openapi/reference.html``; CI and the image build it, it is not committed). The page carries
its scripts inline, so it renders with no network. It is served here, outside the spec, like a
static file: it is documentation of the contract, not part of it.
"""

from __future__ import annotations

from pathlib import Path

from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import problem_bytes

DOCS_PATH = "/docs"
SPEC_PATH = "/openapi.json"
REFERENCE_PATH = f"{DOCS_PATH}/reference"
_SPEC_PATHS = frozenset({SPEC_PATH, SPEC_PATH.removesuffix(".json") + ".yaml"})
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


class SpecPages(SwaggerUIMiddleware):  # type: ignore[misc]
    """Connexion's Swagger UI middleware (the spec as JSON and YAML, Swagger UI under
    ``/docs``), entered only by requests for those pages.

    Connexion's sends every request through two routers and a copy of the scope to find that
    it serves none of them: about 2 % of an appointment list's CPU (benchmarks/profiles.md).
    Its pages are known (the paths given to ``SwaggerUIOptions`` in the app factory), so every
    other request goes straight on.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _is_spec_page(scope):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _is_spec_page(scope: Scope) -> bool:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):  # behind a proxy that strips a prefix
        path = path[len(root) :]
    return path in _SPEC_PATHS or path == DOCS_PATH or path.startswith(DOCS_PATH + "/")
