"""Every example in the spec is valid against the schema it illustrates.

Examples are what readers of the rendered reference copy, what the TypeScript client's docs
show, and what schemathesis sends first; a wrong one misleads all three. They are checked the
way Connexion checks requests: JSON Schema Draft 4 with OpenAPI 3.0's ``nullable`` and the
string formats the service registers (uuid, date-time, email, date).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from connexion.json_schema import Draft4RequestValidator, resolve_refs
from jsonschema import Draft4Validator

from service import formats
from tests.contract import spec_document

# Where a value is a map of names to schemas or parameters, not a schema or example itself.
_NAMED_MAPS = frozenset({"properties", "schemas", "parameters", "headers", "responses"})


def examples(node: Any, pointer: str = "#") -> Iterator[tuple[str, Any, str]]:
    """(pointer of the example, the example, pointer of the schema it must satisfy)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from examples(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    named_map = pointer.rsplit("/", 1)[-1] in _NAMED_MAPS
    if not named_map:
        # A parameter, header or media type carries its schema; a schema illustrates itself.
        schema = f"{pointer}/schema" if "schema" in node else pointer
        if "example" in node:
            yield f"{pointer}/example", node["example"], schema
        for name, example in (node.get("examples") or {}).items():
            if isinstance(example, dict) and "value" in example:
                yield f"{pointer}/examples/{name}", example["value"], schema
    for key, value in node.items():
        if key in ("example", "examples") and not named_map:
            continue
        yield from examples(value, f"{pointer}/{_escape(key)}")


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.lstrip("#/").split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def problems(spec: dict[str, Any]) -> dict[str, str]:
    """Each invalid example's pointer with the validator's complaint."""
    formats.register()
    resolved = resolve_refs(spec)
    found: dict[str, str] = {}
    for where, example, schema_pointer in examples(spec):
        schema = {
            key: value
            for key, value in _resolve(resolved, schema_pointer).items()
            if key not in ("example", "examples")
        }
        validator = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(example), key=lambda error: list(error.path))
        if errors:
            found[where] = "; ".join(error.message for error in errors)
    return found


SPEC = spec_document.load()


def test_every_example_in_the_spec_matches_its_schema() -> None:
    assert problems(SPEC) == {}


def test_the_examples_cover_requests_responses_parameters_and_schemas() -> None:
    where = {pointer for pointer, _, _ in examples(SPEC)}
    assert "#/components/schemas/User/example" in where
    assert "#/components/schemas/AppointmentCreate/example" in where
    assert "#/components/parameters/UserId/example" in where
    assert any(p.startswith("#/components/responses/") for p in where)
    assert any(p.startswith("#/paths/") for p in where)


@pytest.mark.parametrize(
    ("pointer", "bad"),
    [
        ("#/components/schemas/User/example/id", "not-a-uuid"),
        ("#/components/schemas/User/example/role", "nurse"),
        ("#/components/schemas/Appointment/example/start_at", "2026-12-01 09:00"),
        ("#/components/schemas/Appointment/example/notes", 42),
        ("#/components/responses/NotFound/content/application~1problem+json/example/status", 200),
    ],
)
def test_a_wrong_example_is_reported(pointer: str, bad: Any) -> None:
    doctored = copy.deepcopy(SPEC)
    parent, _, key = pointer.rpartition("/")
    _resolve(doctored, parent)[key] = bad
    example = pointer[: pointer.index("/example/") + len("/example")]
    assert list(problems(doctored)) == [example]


def test_null_is_a_valid_example_only_where_the_schema_is_nullable() -> None:
    doctored = copy.deepcopy(SPEC)
    doctored["components"]["schemas"]["User"]["example"]["full_name"] = None
    assert list(problems(doctored)) == ["#/components/schemas/User/example"]
