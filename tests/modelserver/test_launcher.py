from __future__ import annotations

import subprocess
import sys
import time

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from modelserver import launcher
from tests.conftest import ROOT


def test_a_background_server_is_ready_when_started_and_gone_when_stopped() -> None:
    server = launcher.start_background()
    try:
        reply = httpx.get(server.base_url + "/v2/models/breast-cancer/ready", timeout=2)
        assert reply.json() == {"name": "breast-cancer", "ready": True}
    finally:
        server.stop()
    assert server.process.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/v2/health/live", timeout=2)


def test_starting_on_a_port_already_in_use_is_refused() -> None:
    server = launcher.start_background()
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        with pytest.raises(launcher.LaunchError, match="in use"):
            launcher.start_background(port)
    finally:
        server.stop()


def test_the_server_stops_when_its_parent_is_killed() -> None:
    """``medai serve`` killed with SIGKILL cannot stop its children: the model server notices
    it was orphaned and stops, instead of holding its port for good."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from modelserver import launcher;"
            "print(launcher.start_background().process.pid, flush=True); time.sleep(120)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        assert child.is_running()
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:  # exited; waiting for init to reap it
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        child.kill()
        pytest.fail("the model server outlived its killed parent")
