"""The frontend's view of the contract: the generated TypeScript client is current, type-checks
under ``strict``, and works end to end against the real service.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract import live, node_package, people, spec_document


def test_the_package_version_is_the_spec_version() -> None:
    package = json.loads((node_package.PACKAGE / "package.json").read_text())
    assert package["version"] == spec_document.load()["info"]["version"]


def test_generated_client_matches_the_spec() -> None:
    result = node_package.npm_script("check-drift")
    assert "matches openapi/medai.yaml" in result.stdout


def test_client_and_smoke_script_type_check_under_strict() -> None:
    node_package.npm_script("typecheck")


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``medai serve`` on its own embedded database, checking its replies against the spec,
    with a doctor appointed by the configured admin; the smoke script's environment."""
    admin = people.admin_account()
    data_dir: Path = tmp_path_factory.mktemp("typescript-smoke")
    env = {
        "MEDAI_BCRYPT_COST": "4",
        "MEDAI_VALIDATE_RESPONSES": "true",
        "MEDAI_ADMIN_EMAIL": admin.email,
        "MEDAI_ADMIN_PASSWORD": admin.password,
    }
    with live.serve(data_dir, env) as service:
        enrolled = people.enrol(service.base_url, admin, service.mailbox)
        doctor = next(person for person in enrolled if person.name == people.DOCTOR)
        yield {
            **os.environ,
            "MEDAI_BASE_URL": service.base_url,
            "MEDAI_DOCTOR_EMAIL": doctor.email,
            "MEDAI_DOCTOR_PASSWORD": doctor.password,
            "MEDAI_MAILBOX": str(service.mailbox),
        }


def test_types_generated_from_the_live_document_are_the_committed_ones(
    smoke_env: dict[str, str], tmp_path: Path
) -> None:
    """What a frontend team gets by pointing openapi-typescript at the running server is the
    client committed here, with named component types (not the Problem shape inlined)."""
    generated = tmp_path / "live.d.ts"
    command = [
        str(node_package.installed() / "openapi-typescript"),
        smoke_env["MEDAI_BASE_URL"] + "/openapi.json",
        *("--output", str(generated)),
        *("--root-types", "--root-types-no-schema-prefix"),
    ]
    node_package.run(command)
    committed = (node_package.PACKAGE / "src" / "schema.d.ts").read_text()
    assert generated.read_text() == committed
    assert '"application/json": components["schemas"]["Appointment"];' in committed


def test_smoke_script_passes_against_the_live_service(smoke_env: dict[str, str]) -> None:
    result = node_package.npm_script("smoke", env=smoke_env)
    assert result.stdout.rstrip().endswith("smoke: all steps passed"), result.stdout
