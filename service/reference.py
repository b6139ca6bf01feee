"""``/docs/reference``: the API reference as one self-contained HTML page, next to Swagger UI.

Redocly builds it from the spec (``npm run docs`` in ``clients/typescript`` writes
``openapi/reference.html``; CI and the image build it, it is not committed). ``medai serve``
builds it in the background when it is missing and the Node tools are installed
(``build_in_background``), and the page is served as soon as it exists, with no restart. The page
carries its scripts inline, so it renders with no network. It is served here, outside the spec,
like a static file: it is documentation of the contract, not part of it.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml  # type: ignore[import-untyped]
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import KINDS, PROBLEMS_PATH, problem_bytes

DOCS_PATH = "/docs"
SPEC_PATH = "/openapi.json"
REFERENCE_PATH = f"{DOCS_PATH}/reference"
SPEC_YAML_PATH = SPEC_PATH.removesuffix(".json") + ".yaml"
_SPEC_PATHS = frozenset({SPEC_PATH, SPEC_YAML_PATH})
SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi" / "medai.yaml"
NOT_BUILT = (
    "The HTML reference has not been built (yet): `medai serve` builds it when the Node tools are "
    "installed (`npm ci` in clients/typescript), or run `npm run docs` there."
)
ROOT = Path(__file__).resolve().parent.parent
REDOCLY = ROOT / "clients" / "typescript" / "node_modules" / ".bin" / "redocly"
PAGE = ROOT / "openapi" / "reference.html"
"""Where `npm run docs` writes the page, and where the app serves it from."""
BUILD_DEADLINE = 300

log = logging.getLogger(__name__)


def build_in_background(page: Path, redocly: Path = REDOCLY) -> threading.Thread | None:
    """Build the reference page into ``page`` on a thread when it is missing and Redocly is
    installed; ``None`` when there is nothing to do or no way to do it. The page appears
    whole (written aside, then renamed), or not at all."""
    if page.is_file():
        return None
    if not redocly.is_file():
        log.info("HTML reference not built: %s", NOT_BUILT)
        return None
    thread = threading.Thread(
        target=_build, args=(page, redocly), name="reference-build", daemon=True
    )
    thread.start()
    return thread


def _build(page: Path, redocly: Path) -> None:
    scratch = page.with_suffix(".building.html")
    command = [str(redocly), "build-docs", "medai@v1", "--inlineBundle", "--output", str(scratch)]
    environment = {
        **os.environ,
        "REDOCLY_TELEMETRY": "off",
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    }
    try:
        subprocess.run(  # noqa: S603 - a fixed command of the project's own tool
            command,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            timeout=BUILD_DEADLINE,
            check=True,
        )
        os.replace(scratch, page)
        log.info("HTML reference built at %s", page)
    except (OSError, subprocess.SubprocessError) as exc:
        scratch.unlink(missing_ok=True)
        log.warning("HTML reference not built: %s", exc)


class ReferencePage:
    def __init__(self, app: ASGIApp, page: Path) -> None:
        self.app = app
        self.path = page
        # Once found, never looked up again; while missing (being built by `medai serve`), each
        # request for the page looks again, so it appears without a restart.
        self.page = page if page.is_file() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != REFERENCE_PATH:
            await self.app(scope, receive, send)
            return
        await self._reply(scope["method"])(scope, receive, send)

    def _reply(self, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return _problem(405, "Method Not Allowed", "Only GET and HEAD.", {"Allow": "GET, HEAD"})
        if self.page is None and self.path.is_file():
            self.page = self.path
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


class ContractPages:
    """The published contract as JSON and YAML, and the problem type pages, in front of
    Connexion's Swagger UI (``MiddlewarePosition.BEFORE_SWAGGER``).

    Connexion would serve its own working copy of the spec: every ``$ref`` expanded, ``servers``
    rewritten, and the roles it enforces. Consumers get ``PublishedContract`` instead, the same
    bytes on every request and every instance.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.published = published_contract()
        self.problem_pages = problem_pages(self.published.document)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = page_path(scope)
        if path in _SPEC_PATHS:
            reply = (
                Response(self.published.json, media_type="application/json")
                if path == SPEC_PATH
                else Response(self.published.yaml, media_type="application/yaml")
            )
            await reply(scope, receive, send)
        elif path.startswith(PROBLEMS_PATH):
            page = self.problem_pages.get(path.rstrip("/"))
            reply = (
                _problem(404, "Not Found", "No such problem type.")
                if page is None
                else Response(page, media_type="text/html; charset=utf-8")
            )
            await reply(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def page_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):  # behind a proxy that strips a prefix
        path = path[len(root) :]
    return path


def problem_types(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The catalogue as the contract states it: kind → the schema whose ``type`` names it."""
    found: dict[str, dict[str, Any]] = {}
    for schema in document["components"]["schemas"].values():
        for part in schema.get("allOf", []):
            named = part.get("properties", {}).get("type", {}).get("enum", [])
            if len(named) == 1 and str(named[0]).startswith(PROBLEMS_PATH + "/"):
                found[named[0].removeprefix(PROBLEMS_PATH + "/")] = schema
    return found


def problem_pages(document: dict[str, Any]) -> dict[str, bytes]:
    """One small HTML page per problem type, and an index at ``/docs/problems``: what each
    ``type`` URI resolves to."""
    catalogue = problem_types(document)
    missing = KINDS - set(catalogue)
    if missing:
        raise ValueError(f"problem types without a schema in the contract: {sorted(missing)}")
    pages = {
        f"{PROBLEMS_PATH}/{kind}": _page(f"Problem type: {kind}", _describe(kind, schema))
        for kind, schema in catalogue.items()
    }
    index = "".join(
        f'<li><a href="{PROBLEMS_PATH}/{kind}">{kind}</a>: '
        f"{html.escape(catalogue[kind].get('description', '').strip())}</li>"
        for kind in sorted(catalogue)
    )
    pages[PROBLEMS_PATH] = _page("Problem types", f"<ul>{index}</ul>")
    return pages


def _describe(kind: str, schema: dict[str, Any]) -> str:
    members = schema["allOf"][1]
    required = set(members.get("required", []))
    rows = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td>{'yes' if name in required else 'no'}"
        f"</td><td>{html.escape(_member(member))}"
        "</td></tr>"
        for name, member in members.get("properties", {}).items()
        if name != "type"
    )
    table = (
        "<table><tr><th>member</th><th>always</th><th>what</th></tr>" + rows + "</table>"
        if rows
        else "<p>No extension members.</p>"
    )
    return (
        f"<p><code>type: {PROBLEMS_PATH}/{kind}</code></p>"
        f"<p>{html.escape(schema.get('description', '').strip())}</p>{table}"
        f"<p>Besides <code>type</code>, <code>title</code>, <code>status</code>, "
        f'<code>detail</code> (RFC 9457). <a href="{PROBLEMS_PATH}">All problem types</a>, '
        f'<a href="{REFERENCE_PATH}">the API reference</a>.</p>'
    )


def _member(schema: dict[str, Any]) -> str:
    if "description" in schema:
        return str(schema["description"]).strip()
    if "enum" in schema:
        return "one of: " + ", ".join(map(str, schema["enum"]))
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return "a list of " + _member(schema.get("items", {}))
    return " ".join(str(schema[key]) for key in ("type", "format") if key in schema)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
