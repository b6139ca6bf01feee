"""``/docs/reference``: the API reference as one self-contained HTML page, next to Swagger UI.

Redocly builds it from the spec (``npm run docs`` in ``clients/typescript`` writes
``openapi/reference.html``; CI and the image build it, it is not committed). The page carries
its scripts inline, so it renders with no network. It is served here, outside the spec, like a
static file: it is documentation of the contract, not part of it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml  # type: ignore[import-untyped]
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import problem_bytes

DOCS_PATH = "/docs"
SPEC_PATH = "/openapi.json"
REFERENCE_PATH = f"{DOCS_PATH}/reference"
SPEC_YAML_PATH = SPEC_PATH.removesuffix(".json") + ".yaml"
_SPEC_PATHS = frozenset({SPEC_PATH, SPEC_YAML_PATH})
SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "medai.yaml"
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


@dataclass(frozen=True)
class PublishedContract:
    """The contract as it is reviewed and published: ``openapi/medai.yaml`` itself, one
    self-contained document with its ``$ref``s and components intact and ``servers`` as
    written. It holds no implementation detail (handlers are found by rule, roles enforced from
    ``x-roles``), so what a consumer downloads is exactly the file in the repository."""

    document: dict[str, Any]
    json: bytes
    yaml: bytes

    @classmethod
    def load(cls, path: Path = SPEC_FILE) -> PublishedContract:
        text = path.read_bytes()
        document: dict[str, Any] = yaml.safe_load(text)
        return cls(document=document, json=orjson.dumps(document), yaml=text)


@functools.cache
def published_contract() -> PublishedContract:
    """Read once per process, when the first app is built."""
    return PublishedContract.load()


class SpecPages(SwaggerUIMiddleware):  # type: ignore[misc]
    """The published contract as JSON and YAML, and Connexion's Swagger UI under ``/docs``,
    entered only by requests for those pages.

    Connexion would serve its own working copy of the spec: every ``$ref`` expanded, ``servers``
    rewritten, and the roles it enforces. Consumers get ``PublishedContract`` instead, the same
    bytes on every request and every instance.

    Connexion's sends every request through two routers and a copy of the scope to find that
    it serves none of them: about 2 % of an appointment list's CPU (benchmarks/profiles.md).
    Its pages are known (the paths given to ``SwaggerUIOptions`` in the app factory), so every
    other request goes straight on.
    """

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self.published = published_contract()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        path = _page_path(scope)
        if path in _SPEC_PATHS and scope["method"] in ("GET", "HEAD"):
            reply = (
                Response(self.published.json, media_type="application/json")
                if path == SPEC_PATH
                else Response(self.published.yaml, media_type="application/yaml")
            )
            await reply(scope, receive, send)
        elif path in _SPEC_PATHS or path == DOCS_PATH or path.startswith(DOCS_PATH + "/"):
            await super().__call__(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _page_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):  # behind a proxy that strips a prefix
        path = path[len(root) :]
    return path
