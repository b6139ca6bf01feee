"""The spec keeps the promises of the last released version unless its major version moved.

Released copies live in ``openapi/released/medai-<version>.yaml``. To release: copy the spec
there under its ``info.version``. To break a promise on purpose: bump the major version.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract import spec_document
from tests.contract.breaking_changes import breaking_changes

# Semantic Versioning 2.0.0, as the regular expression the specification itself suggests.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
CURRENT = spec_document.load()


def version(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text)
    assert match, f"{text!r} is not a semantic version"
    return int(match[1]), int(match[2]), int(match[3])


def last_release() -> tuple[tuple[int, int, int], dict[str, Any]]:
    releases = sorted(
        (version(path.stem.removeprefix("medai-")), path)
        for path in spec_document.RELEASED.glob("medai-*.yaml")
    )
    assert releases, "no released spec in openapi/released"
    number, path = releases[-1]
    return number, spec_document.load(path)


def test_the_spec_version_is_semantic() -> None:
    version(CURRENT["info"]["version"])


def test_a_released_copy_names_the_version_it_carries() -> None:
    number, released = last_release()
    assert version(released["info"]["version"]) == number


def test_the_version_never_goes_back() -> None:
    number, _ = last_release()
    assert version(CURRENT["info"]["version"]) >= number


# What each major version breaks on purpose, as the checker words it (the changelog a client
# upgrading reads; README, Decisions). A break not listed here fails even with the major moved.
ANNOUNCED_BREAKS: dict[int, set[str]] = {
    2: {
        # Browser sign-ins get the refresh token in an HttpOnly cookie, not the body.
        "POST /auth/login 200: field refresh_token no longer always present",
        "POST /auth/refresh 200: field refresh_token no longer always present",
        # If-Match is required (it always was, at run time: 428) and `*` is refused.
        "PUT /appointments/{appointment_id} header parameter If-Match: now required",
        "PUT /appointments/{appointment_id} header parameter If-Match: minLength raised to 2",
        "PUT /appointments/{appointment_id} header parameter If-Match: pattern changed to "
        '^"[^"]*"(\\s*,\\s*"[^"]*")*$',
    },
}


def test_nothing_released_is_broken_but_what_the_new_major_version_announces() -> None:
    (major, _, _), released = last_release()
    broken = breaking_changes(released, CURRENT)
    current_major = version(CURRENT["info"]["version"])[0]
    if current_major == major:
        assert broken == [], "breaking changes need a new major version (info.version)"
    else:
        assert set(broken) == ANNOUNCED_BREAKS.get(current_major, set()), (
            "every break of a new major version is announced in ANNOUNCED_BREAKS"
        )


# The checker itself, on one change at a time to the current spec.


def _remove_path(spec: dict[str, Any]) -> None:
    del spec["paths"]["/users/me"]


def _remove_operation(spec: dict[str, Any]) -> None:
    del spec["paths"]["/users/{user_id}"]["put"]


def _rename_operation(spec: dict[str, Any]) -> None:
    spec["paths"]["/users/me"]["get"]["operationId"] = "whoAmI"


def _drop_required_response_field(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["Appointment"]["required"].remove("version")


def _require_new_request_field(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["Registration"]["required"].append("phone")
    spec["components"]["schemas"]["Registration"]["properties"]["phone"] = {"type": "string"}


def _narrow_request_enum(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["AppointmentStatus"]["enum"].remove("noshow")


def _change_type(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["TokenPair"]["properties"]["expires_in"] = {"type": "string"}


def _require_new_parameter(spec: dict[str, Any]) -> None:
    parameter = {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}}
    spec["paths"]["/users"]["get"]["parameters"].append(parameter)


def _make_response_field_nullable(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["User"]["properties"]["role"] = {
        "type": "string",
        "nullable": True,
    }


def _lower_a_request_bound(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["Password"]["maxLength"] = 64


def _protect_an_open_operation(spec: dict[str, Any]) -> None:
    del spec["paths"]["/auth/register"]["post"]["security"]


def _remove_a_success_status(spec: dict[str, Any]) -> None:
    spec["paths"]["/auth/register"]["post"]["responses"]["200"] = spec["paths"]["/auth/register"][
        "post"
    ]["responses"].pop("201")


def _reply_one_of_without_a_required_field(spec: dict[str, Any]) -> None:
    appointment = spec["components"]["schemas"]["Appointment"]
    thinner = {**appointment, "required": [f for f in appointment["required"] if f != "status"]}
    spec["paths"]["/appointments/{appointment_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"] = {"oneOf": [appointment, thinner]}


BREAKING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "removed path": (_remove_path, "/users/me: path removed"),
    "removed operation": (_remove_operation, "PUT /users/{user_id}: operation removed"),
    "renamed operation": (_rename_operation, "GET /users/me: operationId getCurrentUser renamed"),
    "required response field dropped": (
        _drop_required_response_field,
        "GET /appointments/{appointment_id} 200: field version no longer always present",
    ),
    "new required request field": (_require_new_request_field, "new required field phone"),
    "narrowed enum": (_narrow_request_enum, "enum narrowed, ['noshow'] no longer accepted"),
    "changed type": (_change_type, "expires_in: type integer became string"),
    "new required parameter": (_require_new_parameter, "new required query parameter tenant"),
    "response field may be null": (_make_response_field_nullable, ".role: may now be null"),
    "request bound lowered": (_lower_a_request_bound, "password: maxLength lowered to 64"),
    "open operation protected": (_protect_an_open_operation, "now requires authentication"),
    "success status removed": (_remove_a_success_status, "response 201 removed"),
    "a reply variant drops a field": (
        _reply_one_of_without_a_required_field,
        "GET /appointments/{appointment_id} 200 (oneOf 1): field status no longer always present",
    ),
}


@pytest.mark.parametrize("change", sorted(BREAKING))
def test_the_checker_reports_a_breaking_change(change: str) -> None:
    apply, expected = BREAKING[change]
    changed = copy.deepcopy(CURRENT)
    apply(changed)
    report = breaking_changes(CURRENT, changed)
    assert any(expected in line for line in report), report


def _add_everything_optional(spec: dict[str, Any]) -> None:
    spec["paths"]["/status"] = copy.deepcopy(spec["paths"]["/health/live"])
    spec["paths"]["/status"]["get"]["operationId"] = "getStatus"
    spec["components"]["schemas"]["User"]["properties"]["phone"] = {"type": "string"}
    spec["components"]["schemas"]["Registration"]["properties"]["phone"] = {"type": "string"}
    spec["components"]["schemas"]["Role"]["enum"].append("nurse")
    spec["paths"]["/users"]["get"]["parameters"].append(
        {"name": "active", "in": "query", "schema": {"type": "boolean"}}
    )
    spec["paths"]["/users/me"]["get"]["responses"]["404"] = {"description": "Gone."}


def _type_a_problem(spec: dict[str, Any]) -> None:
    """A reply narrowed to a typed subtype (allOf the old schema plus members) or one of
    several such subtypes, as the problem-type catalogue does."""
    schemas = spec["components"]["schemas"]
    typed = {
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {"type": "object", "required": ["type"], "properties": {"extra": {"type": "string"}}},
        ]
    }
    schemas["TypedProblem"] = typed
    content = spec["components"]["responses"]["NotFound"]["content"]["application/problem+json"]
    content["schema"] = {"oneOf": [{"$ref": "#/components/schemas/TypedProblem"}, typed]}


def test_a_reply_narrowed_to_typed_alternatives_is_not_breaking() -> None:
    changed = copy.deepcopy(CURRENT)
    _type_a_problem(changed)
    assert breaking_changes(CURRENT, changed) == []


def test_additions_are_not_breaking() -> None:
    changed = copy.deepcopy(CURRENT)
    _add_everything_optional(changed)
    assert breaking_changes(CURRENT, changed) == []
