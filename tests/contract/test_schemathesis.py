"""The contract gate: Schemathesis against the live service, every check, every phase.

One ``medai serve`` on a loopback port, on a scratch database of the session's embedded
PostgreSQL; two patients, a doctor and an admin created the way real accounts are. Then the
Schemathesis CLI runs once per role, signed in as that role, over the operations the role may
call (what other roles get from an operation, 403, is tested by the API tests).
``schemathesis.toml`` at the root holds the rest: warnings fail the run, the rules that refuse
some schema-valid input, the ids mixed into generated data. A run passes with exit code 0 and a
JUnit report (in ``reports/``) without failures or errors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from service.embedded_db import EmbeddedPostgres
from tests.contract import live, people

ROOT = live.ROOT
SPEC = ROOT / "openapi" / "medai.yaml"
REPORTS = ROOT / "reports"
TEST_DATA = REPORTS / "contract"  # where schemathesis.toml looks for it
SEED = 20261126
# Cases per operation and phase: about 1,600 cases per role, a few minutes for the three roles.
MAX_EXAMPLES = 50
RUN_DEADLINE = 900
SEEDED_APPOINTMENTS = 10
# (identity in the auth document, its role); the admin last, as an admin run may deactivate
# or demote the others.
RUNS = [(people.PATIENT_A, "patient"), (people.DOCTOR, "doctor"), (people.ADMIN, "admin")]


@dataclass
class Gate:
    service: live.LiveService
    everyone: dict[str, people.Person]


@pytest.fixture(scope="module")
def scratch_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    with live.scratch_database(postgres, "medai_contract") as url:
        yield url


@pytest.fixture(scope="module")
def gate(scratch_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    admin = people.admin_account()
    env = {
        "DATABASE_URL": scratch_database,
        "MEDAI_ADMIN_EMAIL": admin.email,
        "MEDAI_ADMIN_PASSWORD": admin.password,
        # Thousands of sign-ins and sign-ups: the contract does not depend on the cost.
        "MEDAI_BCRYPT_COST": "4",
        # Every request comes from 127.0.0.1 and fuzzed sign-ins mostly fail; throttling has its
        # own tests (tests/security), here it would only lock the gate's accounts out.
        "MEDAI_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000",
        "MEDAI_LOGIN_MAX_FAILURES_PER_PAIR": "1000",
        "MEDAI_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
        "MEDAI_SIGN_UPS_PER_ADDRESS": "100000",
    }
    with live.serve(tmp_path_factory.mktemp("contract-service"), env) as service:
        everyone = people.enrol(service.base_url, admin)
        people.write_auth_document(everyone, TEST_DATA / "users.json")
        yield Gate(service, {person.name: person for person in everyone})


def write_test_data(gate: Gate, run: int) -> None:
    """Ids that exist, for schemathesis.toml's dictionaries: the people, and fresh appointments
    of patient A with the doctor (a previous run may have cancelled or deleted the last ones)."""
    patient, doctor = gate.everyone[people.PATIENT_A], gate.everyone[people.DOCTOR]
    appointments = people.book(
        gate.service.base_url, patient, doctor, SEEDED_APPOINTMENTS, first_day=run * 20
    )
    people.write_dictionary([p.id for p in gate.everyone.values()], TEST_DATA / "user-ids.dict")
    people.write_dictionary(appointments, TEST_DATA / "appointment-ids.dict")


def operations_closed_to(role: str) -> list[str]:
    """operationIds whose security requirements all name roles other than ``role``."""
    spec = yaml.safe_load(SPEC.read_text())
    closed = []
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            requirements = operation.get("security", spec.get("security", []))
            scopes = [scope for requirement in requirements for scope in requirement.values()]
            if requirements and all(scope and role not in scope for scope in scopes):
                closed.append(operation["operationId"])
    return closed


def schemathesis_command(identity: str, role: str, base_url: str) -> list[str]:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--no-color", "run"),
        str(SPEC.relative_to(ROOT)),
        *("--url", base_url),
        *("--auth-wfc-user", identity),
        *("--checks", "all"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        "--continue-on-failure",
        *("--seed", str(SEED)),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--report", "junit", "--report-junit-path", str(junit_path(identity))),
    ]
    for operation_id in operations_closed_to(role):
        command += ["--exclude-operation-id", operation_id]
    return command


def junit_path(identity: str) -> Path:
    return REPORTS / f"schemathesis-{identity}.xml"


def junit_totals(path: Path) -> dict[str, int]:
    root = ET.parse(path).getroot()  # noqa: S314 - a report this test just had written
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors")
    return {key: sum(int(suite.get(key, 0)) for suite in suites) for key in keys}


def digest(output: str, width: int = 200, lines: int = 150) -> str:
    """The end of a run's output, each line cut short: fuzzed bodies can be megabytes long."""
    cut = [line if len(line) <= width else line[:width] + " \u2026" for line in output.splitlines()]
    return "\n".join(cut[-lines:])


def generated_cases(output: str) -> int:
    found = re.search(r"(\d+) generated", output)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize(("identity", "role"), RUNS, ids=[role for _, role in RUNS])
def test_the_live_service_keeps_its_contract_for_each_role(
    gate: Gate, identity: str, role: str
) -> None:
    write_test_data(gate, RUNS.index((identity, role)))
    junit_path(identity).unlink(missing_ok=True)
    run = subprocess.run(
        schemathesis_command(identity, role, gate.service.base_url),
        cwd=ROOT,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "MEDAI_CONTRACT_DOCTOR_ID": gate.everyone[people.DOCTOR].id,
            "MEDAI_CONTRACT_PATIENT_ID": gate.everyone[people.PATIENT_A].id,
        },
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        check=False,
    )
    output = run.stdout + run.stderr
    (REPORTS / f"schemathesis-{identity}.txt").write_text(output)
    totals = junit_totals(junit_path(identity))
    print(
        f"\nschemathesis as {identity}: {generated_cases(output)} cases generated, "
        f"{totals['tests']} scenarios, {totals['failures']} failures, {totals['errors']} errors, "
        f"exit code {run.returncode}"
    )
    assert run.returncode == 0, digest(output)
    assert totals == {**totals, "failures": 0, "errors": 0}, digest(output)
    assert totals["tests"] > 0, digest(output)
    assert generated_cases(output) > 0, digest(output)
