"""The contract as data, for the tests that read it rather than call it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "medai.yaml"
RELEASED = ROOT / "openapi" / "released"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load(path: Path = SPEC) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (method, path template, operation object)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is not None:
                found[operation["operationId"]] = (method, path, operation)
    return found
