"""The contract gate: Schemathesis against the live service, every check, every phase.

One ``medai serve`` on a loopback port, on a scratch database of the session's embedded
PostgreSQL; two patients, a doctor and an admin created the way real accounts are. Then the
Schemathesis CLI runs once per role, signed in as that role, over the operations the role may
call (what other roles get from an operation, 403, is tested by the API tests).
``schemathesis.toml`` at the root holds the rest: warnings fail the run, the rules that refuse
some schema-valid input, the ids mixed into generated data; ``schemathesis_hooks`` gives valid
cases what no schema can (a future slot, the model's features). A run passes with exit code 0
and a JUnit report (in ``reports/``) without failures or errors, and only if it reached the
happy path: at least one booking made (201 on ``POST /appointments``) and at least one link
followed by the stateful phase, counted from the run's NDJSON event log and printed with the
traversals of each declared link; and every link the spec declares is followed in some run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# Stateful runs over only the operations of one link, for links whose source the full runs'
# few dozen scenarios rarely start from: a prediction (the fuzzing phase makes predictions,
# 201, but only the stateful phase follows links). (label, identity, role, operationIds.)
FOCUSED = [("doctor-predictions", people.DOCTOR, "doctor", ["runInference", "getInference"])]


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
        # Likewise the predictions a minute: at the default 30 the fuzzing phase spends them
        # all, and the stateful phase never gets the 201 the link to the record starts from.
        "MEDAI_INFERENCE_RATE_PER_MINUTE": "100000",
        "MEDAI_SIGN_UPS_PER_ADDRESS": "100000",
        # The per-client quota on, so that every reply carries the RateLimit fields the
        # contract documents (and they are checked), but never reached.
        "MEDAI_RATE_LIMIT": "1000000",
        # Likewise password reset requests (all from 127.0.0.1); their limits have own tests.
        "MEDAI_PASSWORD_RESETS_PER_ACCOUNT": "1000",
        "MEDAI_PASSWORD_RESETS_PER_ADDRESS": "100000",
    }
    with live.serve(tmp_path_factory.mktemp("contract-service"), env) as service:
        everyone = people.enrol(service.base_url, admin, service.mailbox)
        people.write_auth_document(everyone, TEST_DATA / "users.json")
        yield Gate(service, {person.name: person for person in everyone})


def write_test_data(gate: Gate, run: int) -> None:
    """Ids that exist, for schemathesis.toml's dictionaries: the people, and fresh appointments
    of patient A with the doctor (a previous run may have cancelled or deleted the last ones)."""
    patient, doctor = gate.everyone[people.PATIENT_A], gate.everyone[people.DOCTOR]
    # Each run seeds its own days, all before the days the hooks book in: a seeded 09:00 that
    # a fuzzed booking had taken would be refused (409) and stop the gate.
    first_day = run * 20
    assert people.SEEDED_FROM_DAYS + first_day + SEEDED_APPOINTMENTS <= people.FUZZED_FROM_DAYS
    appointments = people.book(
        gate.service.base_url, patient, doctor, SEEDED_APPOINTMENTS, first_day=first_day
    )
    people.write_dictionary([p.id for p in gate.everyone.values()], TEST_DATA / "user-ids.dict")
    people.write_dictionary(appointments, TEST_DATA / "appointment-ids.dict")


def operations_closed_to(role: str) -> list[str]:
    """operationIds whose roles (``x-roles``) do not include ``role``."""
    spec = yaml.safe_load(SPEC.read_text())
    return [
        operation["operationId"]
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and role not in operation.get("x-roles", [role])
    ]


def schemathesis_command(
    identity: str, role: str, base_url: str, focus: list[str] | None = None, label: str = ""
) -> list[str]:
    """The full run of one role, or (``focus``) only the stateful phase over those operations."""
    label = label or identity
    phases = "stateful" if focus else "examples,coverage,fuzzing,stateful"
    seed = SEED + [identity for identity, _ in RUNS].index(identity) + (100 if focus else 0)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--no-color", "run"),
        str(SPEC.relative_to(ROOT)),
        *("--url", base_url),
        *("--auth-wfc-user", identity),
        *("--checks", "all"),
        *("--phases", phases),
        "--continue-on-failure",
        # A seed of its own per run: with one seed, each run would sign up the emails the one
        # before it already took, and see mostly 409s.
        *("--seed", str(seed)),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--report", "junit,ndjson", "--report-junit-path", str(junit_path(label))),
        *("--report-ndjson-path", str(events_path(label))),
    ]
    if focus:
        for operation_id in focus:
            command += ["--include-operation-id", operation_id]
        return command
    for operation_id in operations_closed_to(role):
        command += ["--exclude-operation-id", operation_id]
    return command


def junit_path(identity: str) -> Path:
    return REPORTS / f"schemathesis-{identity}.xml"


def declared_links(role: str, focus: list[str] | None = None) -> set[str]:
    """``"<METHOD> <path> <link>"`` of every link in the spec between operations ``role`` may
    call (and, given ``focus``, that are among those)."""
    spec = yaml.safe_load(SPEC.read_text())
    closed = set(operations_closed_to(role))
    if focus is not None:
        closed |= {
            operation["operationId"]
            for item in spec["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict) and operation.get("operationId") not in focus
        }
    by_id = {
        operation["operationId"]: operation
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    found = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or operation.get("operationId") in closed:
                continue
            for response in operation.get("responses", {}).values():
                for name, link in (response.get("links") or {}).items():
                    if link["operationId"] in by_id and link["operationId"] not in closed:
                        found.add(f"{method.upper()} {path} {name}")
    return found


@dataclass
class Traffic:
    bookings: int
    """Successful bookings: 201 on POST /appointments, in every phase."""
    links: Counter[str]
    """Traversals of each declared link (``"<METHOD> <path> <link>"``)."""
    traversals: int
    """Steps of the stateful phase that followed a link, declared or inferred by Schemathesis."""


def traffic(events: Path) -> Traffic:
    """What a run sent and got, from its NDJSON event log (each case once)."""
    seen: dict[str, tuple[dict[str, Any], int | None]] = {}
    with events.open() as lines:
        for line in lines:
            finished = json.loads(line).get("ScenarioFinished")
            recorder = (finished or {}).get("recorder") or {}
            for case_id, case in (recorder.get("cases") or {}).items():
                response = (recorder.get("interactions", {}).get(case_id) or {}).get("response")
                seen[case_id] = (case, response["status_code"] if response else None)
    booked = ("POST", "/appointments", 201)
    bookings = sum(
        1
        for case, status in seen.values()
        if (case["value"]["method"], case["value"]["path"], status) == booked
    )
    links: Counter[str] = Counter()
    traversals = 0
    for case, _ in seen.values():
        transition = case.get("transition")
        if not transition or not case["is_transition_applied"]:
            continue
        traversals += 1
        if not transition["is_inferred"]:
            source, name, _target = transition["id"].split(" -> ")
            links[f"{source} {name.split('] ', 1)[1]}"] += 1
    return Traffic(bookings, links, traversals)


def events_path(identity: str) -> Path:
    return REPORTS / f"schemathesis-{identity}.ndjson"


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


@dataclass
class Run:
    identity: str
    returncode: int
    output: str
    totals: dict[str, int]
    reached: Traffic


def run_as(
    gate: Gate, identity: str, role: str, focus: list[str] | None = None, label: str = ""
) -> Run:
    label = label or identity
    write_test_data(
        gate,
        len(RUNS) + [f[0] for f in FOCUSED].index(label) if focus else RUNS.index((identity, role)),
    )
    junit_path(label).unlink(missing_ok=True)
    run = subprocess.run(
        schemathesis_command(identity, role, gate.service.base_url, focus, label),
        cwd=ROOT,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "COLUMNS": "120",
            "MEDAI_CONTRACT_DOCTOR_ID": gate.everyone[people.DOCTOR].id,
            "MEDAI_CONTRACT_PATIENT_ID": gate.everyone[people.PATIENT_A].id,
            "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
        },
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
        check=False,
    )
    output = run.stdout + run.stderr
    (REPORTS / f"schemathesis-{label}.txt").write_text(output)
    result = Run(
        label,
        run.returncode,
        output,
        junit_totals(junit_path(label)),
        traffic(events_path(label)),
    )
    links = ", ".join(
        f"{link} x{result.reached.links[link]}" for link in sorted(declared_links(role, focus))
    )
    print(
        f"\nschemathesis as {label}: {generated_cases(output)} cases generated, "
        f"{result.totals['tests']} scenarios, {result.totals['failures']} failures, "
        f"{result.totals['errors']} errors, exit code {run.returncode}; "
        f"{result.reached.bookings} bookings (201 on POST /appointments), "
        f"{result.reached.traversals} link traversals, of declared links: {links}"
    )
    return result


@pytest.fixture(scope="module")
def runs(gate: Gate) -> dict[str, Run]:
    """One run per role, in order (the admin last: it may deactivate or demote the others),
    the focused runs before the admin's."""
    done = {role: run_as(gate, identity, role) for identity, role in RUNS if role != "admin"}
    for label, identity, role, focus in FOCUSED:
        done[label] = run_as(gate, identity, role, focus, label)
    done["admin"] = run_as(gate, people.ADMIN, "admin")
    return done


@pytest.mark.parametrize("role", [role for _, role in RUNS] + [run[0] for run in FOCUSED])
def test_the_live_service_keeps_its_contract_for_each_role(runs: dict[str, Run], role: str) -> None:
    run = runs[role]
    assert run.returncode == 0, digest(run.output)
    assert run.totals == {**run.totals, "failures": 0, "errors": 0}, digest(run.output)
    assert run.totals["tests"] > 0, digest(run.output)
    assert generated_cases(run.output) > 0, digest(run.output)


@pytest.mark.parametrize("role", [role for _, role in RUNS])
def test_each_run_reaches_the_happy_path(runs: dict[str, Run], role: str) -> None:
    """Generated bookings succeed and the stateful phase follows links. The admin's run is
    not held to booking: it fuzzes account administration too, and soon demotes or
    deactivates the doctor and patient every booking names (its figure is printed)."""
    reached = runs[role].reached
    if role != "admin":
        assert reached.bookings > 0, "no generated booking succeeded"
    assert reached.traversals > 0, "the stateful phase followed no link"


@pytest.mark.parametrize(("label", "role", "focus"), [(r[0], r[2], r[3]) for r in FOCUSED])
def test_each_focused_run_follows_its_links(
    runs: dict[str, Run], label: str, role: str, focus: list[str]
) -> None:
    reached = runs[label].reached
    assert declared_links(role, focus), "a focused run names operations that a link joins"
    assert {link for link in declared_links(role, focus) if reached.links[link] == 0} == set()


def test_every_declared_link_is_followed_in_some_run(runs: dict[str, Run]) -> None:
    followed = sum((run.reached.links for run in runs.values()), Counter[str]())
    declared = set().union(*(declared_links(role) for _, role in RUNS))
    print(
        "\nschemathesis link traversals over all runs: "
        + ", ".join(f"{link} x{followed[link]}" for link in sorted(declared))
    )
    assert {link for link in declared if followed[link] == 0} == set()
