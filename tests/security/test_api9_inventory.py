"""API9:2023 Improper Inventory Management.

The spec is the inventory: the app serves exactly its operations, the document it serves is
the reviewed one, and every operation requires a token except a short, explicit public list.
The spec's claims are checked against the running app, not just read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from connexion.middleware.routing import RoutingMiddleware

from service.app import SPEC_DIR, SPEC_FILE
from tests.conftest import MakeUser, assert_problem

PUBLIC = {"registerPatient", "logIn", "refreshTokens", "checkLiveness", "checkReadiness"}
# Authorised by something else than an access token: the password step's challenge (the second
# sign-in step, enrolment at sign-in) or a single-use code mailed to the user.
PUBLIC |= {"logInSecondStep", "enrolAtLogIn", "verifyEmail", "requestPasswordReset"}
PUBLIC |= {"resetPassword"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SPEC_DIR / SPEC_FILE).read_text())
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def security_of(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    requirements: list[dict[str, Any]] = operation.get("security", document["security"])
    return requirements


def protected() -> list[tuple[str, str, dict[str, Any]]]:
    return [op for op in operations(spec()) if op[2]["operationId"] not in PUBLIC]


def test_the_public_operations_are_exactly_sign_up_sign_in_recovery_and_the_probes() -> None:
    document = spec()
    assert document["security"] == [{"bearer": []}]
    public = {op["operationId"] for _, _, op in operations(document) if op.get("security") == []}
    assert public == PUBLIC


@pytest.mark.parametrize(("path", "method", "operation"), protected())
def test_every_other_operation_requires_a_token_and_documents_the_refusals(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    document = spec()
    requirements = security_of(document, operation)
    assert requirements == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        **document["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    roles = set(operation.get("x-roles", []))
    assert roles <= {"patient", "doctor", "admin"}
    assert "401" in operation["responses"]
    if roles:
        assert "403" in operation["responses"]


def test_admin_operations_are_marked_as_such_in_the_spec() -> None:
    document = spec()
    admin_only = {path for path, _, op in operations(document) if op.get("x-roles") == ["admin"]}
    assert admin_only == {
        "/private",
        "/audit-events",
        "/users/{user_id}/mfa",
        "/webhooks",
        "/webhooks/{webhook_id}",
        "/webhooks/{webhook_id}/deliveries",
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    }


def served_routes(app: Any) -> set[tuple[str, str]]:
    """What the running app routes: the spec's operations and anything added beside them."""
    [routing] = [m for m in app.middleware.middleware_stack if isinstance(m, RoutingMiddleware)]
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str = "") -> None:
        for route in routes:
            if hasattr(route, "routes"):
                walk(route.routes, prefix + route.path)
            else:
                found.update((prefix + route.path, m.lower()) for m in route.methods - {"HEAD"})

    walk(routing.router.routes)
    # Connexion keeps routes added with add_url_rule outside the spec's router.
    walk(app._middleware_app.router.routes)
    return found


async def test_the_app_serves_exactly_the_operations_of_the_spec(
    app: Any, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/health/live")).status_code == 200  # builds the middleware
    documented = {(path, method) for path, method, _ in operations(spec())}
    assert served_routes(app) == documented


async def test_the_served_document_is_the_reviewed_one(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    document = spec()

    def inventory(doc: dict[str, Any]) -> set[tuple[str, str, str, str]]:
        return {
            (path, method, op["operationId"], repr(security_of(doc, op)))
            for path, method, op in operations(doc)
        }

    assert inventory(served) == inventory(document)


def concrete(path: str) -> str:
    return path.replace("{user_id}", str(uuid.uuid4())).replace(
        "{appointment_id}", str(uuid.uuid4())
    )


@pytest.mark.parametrize(("path", "method", "operation"), protected())
async def test_every_protected_operation_refuses_a_request_without_a_valid_token(
    client: httpx.AsyncClient, path: str, method: str, operation: dict[str, Any]
) -> None:
    body: dict[str, Any] | None = {} if "requestBody" in operation else None
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}):
        reply = await client.request(method, concrete(path), json=body, headers=headers)
        assert_problem(reply, 401)


async def test_methods_the_spec_does_not_list_are_405(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    for method, path in (("PATCH", "/users/me"), ("DELETE", "/users/me"), ("PUT", "/users")):
        assert_problem(await client.request(method, path, headers=user.headers), 405)
    assert_problem(await client.get("/users/me/export", headers=user.headers), 404)
