"""The real service as a subprocess: ``medai serve`` on a free loopback port.

The contract gate talks to it over HTTP, the way CI and clients do. It is given a database
URL, so it never starts an embedded server of its own; the caller owns that database.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from modelserver.launcher import free_port
from service.embedded_db import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE = 120.0
STOP_DEADLINE = 60.0


@dataclass
class LiveService:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def mailbox(self) -> Path:
        """Where the service's outbox writes mail with no SMTP server configured."""
        return self.log_path.parent / "mail"

    def log_tail(self, size: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]


def service_environment(port: int, data_dir: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """The process environment minus any MEDAI_* or DATABASE_URL of the caller's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MEDAI_") and key not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        MEDAI_HOST="127.0.0.1",
        MEDAI_PORT=str(port),
        MEDAI_DATA_DIR=str(data_dir),
        MEDAI_JWT_SECRET=secrets.token_urlsafe(48),
        MEDAI_LOG_LEVEL="warning",
        # The contract gate signs its doctor and admin in through a login endpoint alone (a Web
        # Fuzzing Commons auth document has no second step); MFA has its own tests.
        MEDAI_MFA_POLICY="optional",
    )
    env.update(overrides)
    return env


@contextmanager
def serve(data_dir: Path, env: Mapping[str, str]) -> Iterator[LiveService]:
    """Run ``medai serve`` until the block ends; fail with its log if it never gets ready."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=ROOT,
            env=service_environment(port, data_dir, env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        service = LiveService(f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_until_ready(service)
            yield service
        finally:
            stop(service)


def wait_until_ready(service: LiveService) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    with httpx.Client(base_url=service.base_url, timeout=5) as client:
        while time.monotonic() < deadline and service.process.poll() is None:
            try:
                if client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"medai serve did not become ready:\n{service.log_tail()}")


def stop(service: LiveService) -> None:
    """SIGTERM (a graceful drain), then SIGKILL if it does not end in time; by PID only."""
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
    try:
        service.process.wait(STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


@contextmanager
def scratch_database(postgres: EmbeddedPostgres, prefix: str) -> Iterator[str]:
    """A new, empty database on the embedded server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin_url = postgres.libpq_url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.libpq_url(name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
