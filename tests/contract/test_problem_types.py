"""The problem-type catalogue: every error the service sends names its kind in ``type``; each
kind has a schema in the contract (with its extension members) and a page under
``/docs/problems``; the responses that can produce a kind reference its schema; and the
server's one mapping (``service.problems.problem_type``) agrees with the documented examples.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from connexion.json_schema import resolve_refs

from domain import appointment_rules, inference_rules, scheduling
from domain.errors import DomainError
from domain.model import Caller, Role
from service.app import create_app
from service.problems import KINDS, PROBLEMS_PATH, problem_type
from service.reference import problem_types
from service.settings import Settings
from tests.conftest import assert_problem
from tests.contract import spec_document

UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:1/none"
SPEC = spec_document.load()
CATALOGUE = problem_types(SPEC)


def problem_responses() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, status, media object) of every problem+json response of every operation."""
    resolved = resolve_refs(SPEC)
    for operation_id, (method, path, _) in spec_document.operations(SPEC).items():
        operation = resolved["paths"][path][method]
        for status, response in operation["responses"].items():
            media = (response.get("content") or {}).get("application/problem+json")
            if media is not None:
                yield f"{operation_id} {status}", status, media


def kinds_of(schema: dict[str, Any]) -> list[str]:
    variants = schema.get("oneOf", [schema])
    return [variant["allOf"][1]["properties"]["type"]["enum"][0] for variant in variants]


def test_every_kind_the_server_sends_has_a_schema_and_every_schema_a_kind() -> None:
    assert set(CATALOGUE) == KINDS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_kind_is_named_and_documented_by_its_schema(kind: str) -> None:
    schema = CATALOGUE[kind]
    assert schema["title"] == kind
    assert len(schema["description"]) > 40
    assert schema["example"]["type"] == f"{PROBLEMS_PATH}/{kind}"


@pytest.mark.parametrize(("where", "status", "media"), list(problem_responses()))
def test_every_error_response_is_typed_and_its_example_is_what_the_server_sends(
    where: str, status: str, media: dict[str, Any]
) -> None:
    kinds = kinds_of(media["schema"])
    assert all(kind.startswith(PROBLEMS_PATH + "/") for kind in kinds), where
    example = media["example"]
    assert example["status"] == int(status), where
    members = {k: v for k, v in example.items() if k not in ("type", "title", "status", "detail")}
    assert example["type"] == problem_type(int(status), members), where
    assert example["type"] in kinds, where


def test_every_kind_is_referenced_by_some_response() -> None:
    referenced = {
        kind.removeprefix(PROBLEMS_PATH + "/")
        for _, _, media in problem_responses()
        for kind in kinds_of(media["schema"])
    }
    assert referenced == KINDS


def _raised(action: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as raised:
        action()
    return raised.value


def _patient_changing_notes() -> None:
    patient = Caller(uuid.uuid4(), Role.PATIENT)
    parties = appointment_rules.Parties(
        patient_id=patient.id,
        doctor_id=uuid.uuid4(),
        status=appointment_rules.Status.BOOKED,
        start_at=datetime.now(UTC) + timedelta(days=1),
    )
    appointment_rules.check_update(patient, parties, {"notes": "x"}, datetime.now(UTC))


def _refuse(rule: scheduling.Rule) -> None:
    raise scheduling.refusal(rule, scheduling.DEFAULT)


DOMAIN_CASES: dict[str, tuple[Callable[[], object], str]] = {
    "a move the lifecycle forbids": (
        lambda: appointment_rules.check_transition(
            appointment_rules.Status.FULFILLED, appointment_rules.Status.BOOKED
        ),
        "transition-not-allowed",
    ),
    "fields the role may not change": (_patient_changing_notes, "fields-refused"),
    **{
        f"a booking the rule {rule.value} refuses": (partial(_refuse, rule), rule.value)
        for rule in scheduling.Rule
        if rule is not scheduling.Rule.OVERLAP
    },
    "a model not offered": (
        lambda: inference_rules.allowed_model("nope", ["breast-cancer"]),
        "model-input-refused",
    ),
}


@pytest.mark.parametrize("case", sorted(DOMAIN_CASES))
def test_domain_errors_get_the_type_of_their_kind(case: str) -> None:
    action, kind = DOMAIN_CASES[case]
    error = _raised(action)
    assert problem_type(error.status, error.extensions) == f"{PROBLEMS_PATH}/{kind}"


@pytest.fixture(scope="module")
async def client() -> Any:
    app = create_app(Settings(jwt_secret="problems-" + "x" * 40), UNREACHABLE_DATABASE)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://medai.test"
    ) as http:
        yield http


REFUSALS: dict[str, tuple[str, str, dict[str, Any], int]] = {
    "a path the contract does not have": ("GET", "/no-such-path", {}, 404),
    "a method the path does not have": ("PATCH", "/users/me", {}, 405),
    "a body of another media type": (
        "POST",
        "/auth/register",
        {"content": b"x", "headers": {"Content-Type": "text/plain"}},
        415,
    ),
    "a body the schema refuses": ("POST", "/auth/register", {"json": {}}, 400),
    "no token": ("GET", "/users/me", {}, 401),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refusals_from_the_framework_are_typed_too(
    client: httpx.AsyncClient, case: str
) -> None:
    method, path, options, status = REFUSALS[case]
    reply = await client.request(method, path, **options)
    body = assert_problem(reply, status)
    assert body["type"] == problem_type(status)
    assert body["type"] != "about:blank"


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_each_type_uri_resolves_to_its_page(client: httpx.AsyncClient, kind: str) -> None:
    reply = await client.get(f"{PROBLEMS_PATH}/{kind}")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert f"{PROBLEMS_PATH}/{kind}" in reply.text
    for member in CATALOGUE[kind]["allOf"][1].get("properties", {}):
        assert f"<code>{member}</code>" in reply.text or member == "type"


async def test_the_index_lists_every_type_and_an_unknown_one_is_404(
    client: httpx.AsyncClient,
) -> None:
    index = await client.get(PROBLEMS_PATH)
    assert all(f'href="{PROBLEMS_PATH}/{kind}"' in index.text for kind in KINDS)
    assert_problem(await client.get(f"{PROBLEMS_PATH}/no-such-kind"), 404)
