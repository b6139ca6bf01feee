"""Run the reference model server as a child process, for when no ML service is configured.

The backend then talks to it over loopback HTTP through the same client as in production, so
"works out of the box" exercises the real path (timeouts, breaker, contract checks) and not a
shortcut. The child is a separate interpreter: a model server crash or CPU burst cannot take the
backend's event loop with it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_PATH = "/v2/health/ready"


class LaunchError(RuntimeError):
    """The model server did not become ready in time (or exited)."""


@dataclass(frozen=True)
class ModelServer:
    """A running model server child process and where it listens."""

    process: subprocess.Popen[bytes]
    base_url: str

    def stop(self, timeout: float = 5.0) -> None:
        stop(self, timeout)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port free right now (another process could take it before we bind; retry if so)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _is_ready(url: str) -> bool:
    # urllib rather than httpx: this module is imported first thing by ``medai serve``, whose
    # start-up it is there to overlap, and httpx takes a fifth of a second to import.
    try:
        with urllib.request.urlopen(url, timeout=1.0) as reply:  # noqa: S310 - our own child
            return bool(reply.status == 200)
    except OSError:
        return False


def start_background(
    port: int | None = None,
    *,
    host: str = DEFAULT_HOST,
    ready_timeout: float = 15.0,
    log_level: str = "warning",
) -> ModelServer:
    """Start ``python -m modelserver`` on ``host:port`` (a free port when None) and return once
    it answers ready, or raise :class:`LaunchError` after ``ready_timeout`` seconds (the child
    is stopped then). Call :func:`stop` (or ``.stop()``) on shutdown."""
    server = spawn(port, host=host, log_level=log_level)
    wait_until_ready(server, ready_timeout)
    return server


def spawn(
    port: int | None = None, *, host: str = DEFAULT_HOST, log_level: str = "warning"
) -> ModelServer:
    """Start the child without waiting for it, so that its start-up (an interpreter, uvicorn,
    the model) overlaps whatever the caller does next; :func:`wait_until_ready` before use."""
    port = free_port(host) if port is None else port
    if _accepts(host, port):
        # Something already listens there: its readiness would pass for our child's.
        raise LaunchError(f"{host}:{port} is already in use")
    command = [
        *(sys.executable, "-m", "modelserver", "--host", host, "--port", str(port)),
        *("--parent-pid", str(os.getpid())),
    ]
    # Output goes to our stderr: the child's logs belong with the backend's.
    # cwd: the package is importable whatever directory the backend was started from.
    process = subprocess.Popen([*command, "--log-level", log_level], cwd=_PROJECT_ROOT)  # noqa: S603
    return ModelServer(process, f"http://{host}:{port}")


def wait_until_ready(server: ModelServer, timeout: float = 15.0) -> None:
    """Return once the child answers ready; otherwise stop it and raise :class:`LaunchError`."""
    process = server.process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LaunchError(f"model server exited with status {process.returncode}")
        if _is_ready(server.base_url + READY_PATH):
            return
        time.sleep(0.05)
    stop(server)
    raise LaunchError(f"model server not ready on {server.base_url} after {timeout} s")


def stop(server: ModelServer, timeout: float = 5.0) -> None:
    """Ask the child to exit (SIGTERM: uvicorn drains), kill it if it has not after ``timeout``."""
    process = server.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
