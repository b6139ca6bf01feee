"""Which methods a path takes, answered from the whole spec rather than from one route.

Connexion routes every (path, method) pair as a Starlette route of its own, which breaks two
promises of the contract: a 405 lists only the methods of the first route whose path matched
(``Allow: HEAD, GET`` on a path that also takes PUT), and ``PUT /users/me`` is served by
``PUT /users/{user_id}`` as if ``me`` were an id, although OpenAPI matches a concrete path
before a templated one (``/users/me`` has no PUT, so the answer is 405). This module knows
every path of the spec with all of its methods (``Methods``), and the app's inner layer
(``service.app.Inner``) answers those 405s itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from starlette.types import Scope, Send

from service.problems import problem_bytes

_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PARAMETER = re.compile(r"\{[^}/]+\}")


@dataclass(frozen=True, slots=True)
class PathMethods:
    template: str
    pattern: re.Pattern[str]
    methods: frozenset[str]

    def takes(self, method: str) -> bool:
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)

    @property
    def allow(self) -> str:
        # Starlette answers HEAD wherever there is a GET.
        allowed = self.methods | ({"HEAD"} if "GET" in self.methods else set())
        return ", ".join(sorted(allowed))


def spec_paths(spec_file: Path) -> list[PathMethods]:
    """The spec's paths, concrete ones first (OpenAPI's matching order)."""
    spec = yaml.safe_load(spec_file.read_text())
    paths = []
    for template, item in spec.get("paths", {}).items():
        methods = frozenset(name.upper() for name in item if name in _HTTP_METHODS)
        pieces = _PARAMETER.split(template)
        regex = "[^/]+".join(re.escape(piece) for piece in pieces)
        paths.append(PathMethods(template, re.compile(regex), methods))
    return sorted(paths, key=lambda path: "{" in path.template)


class Methods:
    """Every path of the spec with all of its methods: the 405 a request gets, if any."""

    def __init__(self, paths: list[PathMethods]) -> None:
        # Concrete paths by a dictionary lookup; only templated ones need their patterns, in
        # the spec's order. Concrete before templated either way, as OpenAPI matches.
        self.concrete = {p.template: p for p in paths if "{" not in p.template}
        self.templated = [p for p in paths if "{" in p.template]

    def _match(self, path: str) -> PathMethods | None:
        concrete = self.concrete.get(path)
        if concrete is not None:
            return concrete
        for candidate in self.templated:
            if candidate.pattern.fullmatch(path):
                return candidate
        return None

    def refused(self, scope: Scope) -> PathMethods | None:
        """The spec's path of this HTTP request when it does not take the request's method."""
        path = self._match(scope["path"])
        if path is not None and not path.takes(scope["method"]):
            return path
        return None

    @staticmethod
    async def refuse(path: PathMethods, method: str, send: Send) -> None:
        body = problem_bytes(
            405,
            "Method Not Allowed",
            f"{path.template} does not take {method}; it takes {path.allow}.",
        )
        await send(
            {
                "type": "http.response.start",
                "status": 405,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"allow", path.allow.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
