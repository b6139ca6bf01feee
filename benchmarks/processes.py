"""Starting and stopping what is measured: the service (``medai serve``, one worker) and the
bare baseline, each pinned to the server core, on loopback ports picked at random."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from modelserver.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE = 60.0


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until(
        self, path: str, deadline: float = STARTUP_DEADLINE, statuses: tuple[int, ...] = (200,)
    ) -> float:
        """Poll ``path`` until it answers one of ``statuses``; return the seconds since the
        process started."""
        started = self.started_at
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() - started < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log_path}")
                try:
                    if client.get(path).status_code in statuses:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} not answering {path} after {deadline} s")

    def clear_log(self) -> None:
        """Keep the log from growing across scenarios (it is opened for appending)."""
        os.truncate(self.log_path, 0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _spawn(
    name: str,
    module_args: list[str],
    env: Mapping[str, str],
    cpu: int | str,
    log_dir: Path,
    port: int,
    cwd: Path = ROOT,
) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed by Server.stop
    command = ["taskset", "-c", str(cpu), sys.executable, *module_args]
    started_at = time.monotonic()
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(name, process, port, log_path, started_at, log)


def service_env(port: int, data_dir: Path, secret: str, extra: Mapping[str, str]) -> dict[str, Any]:
    """Production-like settings on a development-mode service (the embedded database is a
    development feature): no response validation, no Swagger UI, one worker, INFO logs."""
    return {
        "MEDAI_ENV": "development",
        "MEDAI_HOST": "127.0.0.1",
        "MEDAI_PORT": str(port),
        "MEDAI_WORKERS": "1",
        "MEDAI_DATA_DIR": str(data_dir),
        "MEDAI_JWT_SECRET": secret,
        "MEDAI_VALIDATE_RESPONSES": "0",
        "MEDAI_SWAGGER_UI": "0",
        "MEDAI_LOG_LEVEL": "info",
        **extra,
    }


def start_service(
    *,
    database_url: str | None,
    data_dir: Path,
    secret: str,
    cpu: int | str,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    name: str = "service",
    source: Path = ROOT,
) -> Server:
    """``medai serve``; from another checkout's code with ``source`` (its folder is first on
    ``sys.path``, ahead of this one's installed package)."""
    port = free_port()
    env = service_env(port, data_dir, secret, extra_env or {})
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    elif "DATABASE_URL" in os.environ:
        raise RuntimeError("unset DATABASE_URL: the benchmark runs on the embedded database")
    return _spawn(name, ["-m", "service.cli", "serve"], env, cpu, log_dir, port, source)


def start_bare(*, database_url: str, secret: str, cpu: int, log_dir: Path) -> Server:
    port = free_port()
    env = {"BENCH_DATABASE_URL": database_url, "BENCH_JWT_SECRET": secret, "BENCH_PORT": str(port)}
    return _spawn("bare", ["-m", "benchmarks.bare_app"], env, cpu, log_dir, port)
