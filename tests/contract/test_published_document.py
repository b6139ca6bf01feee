"""What a consumer downloads is the reviewed contract: ``/openapi.json`` and ``/openapi.yaml``
are ``openapi/medai.yaml`` itself, with its ``$ref``s and components, its ``servers`` as
written, no implementation fields, and the same bytes on every request and instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from service import security
from service.app import create_app
from service.settings import Settings
from tests.contract import spec_document

UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:1/none"
# Connexion's hooks into Python code: routing hints and security functions. None belongs in a
# document published to people and code generators.
IMPLEMENTATION_FIELDS = {
    "x-openapi-router-controller",
    "x-swagger-router-controller",
    "x-tokenInfoFunc",
    "x-tokenInfoUrl",
    "x-bearerInfoFunc",
    "x-basicInfoFunc",
    "x-apikeyInfoFunc",
    "x-scopeValidateFunc",
    "x-body-name",
}


def keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from keys(value)


async def fetch(path: str) -> httpx.Response:
    app = create_app(Settings(jwt_secret="published-" + "x" * 40), UNREACHABLE_DATABASE)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://medai.test"
    ) as client:
        reply = await client.get(path)
    assert reply.status_code == 200, reply.text
    return reply


async def test_the_served_json_is_the_source_document_unchanged() -> None:
    reply = await fetch("/openapi.json")
    assert reply.headers["content-type"] == "application/json"
    served = reply.json()
    source = spec_document.load()
    assert served == source
    assert served["servers"] == source["servers"]
    assert b'"$ref":"#/components/schemas/Appointment"' in reply.content


async def test_the_served_yaml_is_the_source_file_byte_for_byte() -> None:
    reply = await fetch("/openapi.yaml")
    assert reply.content == spec_document.SPEC.read_bytes()


async def test_the_served_json_is_byte_stable_across_instances() -> None:
    first, second = await fetch("/openapi.json"), await fetch("/openapi.json")
    assert first.content == second.content
    assert first.content == orjson.dumps(spec_document.load())


def test_the_contract_holds_no_implementation_fields() -> None:
    assert IMPLEMENTATION_FIELDS.isdisjoint(keys(spec_document.load()))


def test_the_published_scheme_is_plain_http_bearer() -> None:
    scheme = spec_document.load()["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "flows" not in scheme


def test_the_roles_of_an_operation_become_its_security_requirement_for_connexion() -> None:
    published = spec_document.load()
    working = security.enforced(published)
    operation = working["paths"]["/audit-events"]["get"]
    assert operation["security"] == [{"bearer": ["admin"]}]
    assert working["paths"]["/inference"]["post"]["security"] == [{"bearer": ["doctor", "admin"]}]
    # Operations without x-roles keep the document's default; the published copy is untouched.
    assert "security" not in working["paths"]["/users/me"]["get"]
    assert "security" not in published["paths"]["/audit-events"]["get"]


@pytest.mark.parametrize(
    ("roles", "security_requirement"),
    [(["nurse"], None), ([], None), (["admin"], [])],
    ids=["unknown role", "no role", "open operation"],
)
def test_roles_that_cannot_be_enforced_stop_the_app_from_building(
    roles: list[str], security_requirement: list[Any] | None
) -> None:
    published = spec_document.load()
    operation = published["paths"]["/users/me"]["get"]
    operation["x-roles"] = roles
    if security_requirement is not None:
        operation["security"] = security_requirement
    with pytest.raises(ValueError, match="GET /users/me"):
        security.enforced(published)
