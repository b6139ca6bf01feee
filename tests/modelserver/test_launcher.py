from __future__ import annotations

import httpx
import pytest

from modelserver import launcher


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
