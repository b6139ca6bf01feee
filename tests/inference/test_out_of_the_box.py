"""``medai serve`` with no ML service configured starts the reference model server itself, so a
doctor's prediction works out of the box over the production HTTP path; and stops it on exit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.embedded_db import EmbeddedPostgres
from tests.contract import live, people
from tests.inference.conftest import CASE


@pytest.fixture(scope="module")
def scratch_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    with live.scratch_database(postgres, "medai_inference") as url:
        yield url


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_doctors_prediction_works_with_no_ml_service_configured(
    scratch_database: str, tmp_path: Path
) -> None:
    admin = people.admin_account()
    env = {
        "DATABASE_URL": scratch_database,
        "MEDAI_BCRYPT_COST": "4",
        "MEDAI_ADMIN_EMAIL": admin.email,
        "MEDAI_ADMIN_PASSWORD": admin.password,
    }
    with live.serve(tmp_path, env) as service:
        model_servers = children(service.process.pid)
        everyone = people.enrol(service.base_url, admin, service.mailbox)
        doctor = next(p for p in everyone if p.name == people.DOCTOR)
        with httpx.Client(base_url=service.base_url, timeout=30) as client:
            headers = doctor.bearer(client)
            reply = client.post(
                "/inference", json={"model": "breast-cancer", "features": CASE}, headers=headers
            )
            assert reply.status_code == 201, reply.text
            assert reply.json()["outputs"]["label"] == "malignant"
            read = client.get(reply.headers["location"], headers=headers)
            assert read.json() == reply.json()
            health = client.get("/inference/health", headers=headers).json()
            assert health["ready"] is True
    assert len(model_servers) == 1
    assert not any(alive(pid) for pid in model_servers)
