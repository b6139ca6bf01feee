"""A misbehaving ML service on a real loopback port, scripted per test.

Raw ASGI served by uvicorn in a background thread: what the client meets in production is a
socket, so timeouts, refused connections and size caps are exercised for real.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from modelserver.launcher import free_port

MODEL = "breast-cancer"


@dataclass
class Script:
    """What the server does next; tests set ``mode`` and read what it received."""

    mode: str = "ok"
    delay: float = 0.0
    requests: int = 0
    request_ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    released: bool = False

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


def _ok_body(request: dict[str, Any]) -> dict[str, Any]:
    n = request["inputs"][0]["shape"][0]
    return {
        "model_name": MODEL,
        "model_version": "7",
        "id": request.get("id"),
        "outputs": [
            {"name": "probability", "shape": [n], "datatype": "FP64", "data": [0.25] * n},
            {"name": "label", "shape": [n], "datatype": "BYTES", "data": ["benign"] * n},
        ],
    }


class FakeMLServer:
    def __init__(self) -> None:
        self.script = Script()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            interface="asgi3",
            lifespan="off",
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        while not self._server.started:
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self.script.released = True
        self._server.should_exit = True
        self._thread.join(5)
        self._sock.close()

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        script = self.script
        script.requests += 1
        headers = dict(scope["headers"])
        script.request_ids.append(headers.get(b"x-request-id", b"").decode())
        script.paths.append(scope["path"])
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(raw) if raw else {}
        script.bodies.append(request)
        mode = script.mode
        if mode == "slow":
            waited = 0.0
            while waited < script.delay and not script.released:
                await asyncio.sleep(0.02)
                waited += 0.02
            mode = "ok"
        is_ready_probe = scope["path"].endswith("/ready")
        if mode == "reject" and is_ready_probe:
            # A ready model that refuses what it was sent (MLServer: an unknown output name).
            await _reply(send, 200, {"name": MODEL, "ready": True})
        elif mode == "loading":
            # MLServer while a model loads: 400 to its infer and to its readiness probe.
            await _reply(send, 400, {"error": f"Model {MODEL} with version  is not ready yet."})
        elif mode == "unloaded":
            await _reply(send, 404, {"error": f"Model {MODEL} not found"})
        elif mode == "unavailable_once":
            script.mode = "ok"
            await _reply(send, 503, {"error": "warming up"})
        elif mode == "unavailable":
            await _reply(send, 503, {"error": "overloaded"}, [(b"retry-after", b"7")])
        elif mode == "error500":
            await _reply(send, 500, {"error": "model crashed"})
        elif mode == "reject":
            await _reply(send, 400, {"error": "input 'features': expected shape [n, 30]"})
        elif mode == "redirect":
            await _reply(send, 307, {}, [(b"location", b"http://169.254.169.254/")])
        elif mode == "garbage":
            await _raw(send, 200, b"<html>definitely not json", b"text/html")
        elif mode == "wrong_model":
            await _reply(send, 200, {**_ok_body(request), "model_name": "other-model"})
        elif mode == "bad_shape":
            body = _ok_body(request)
            body["outputs"][0]["shape"] = [body["outputs"][0]["shape"][0] + 1]
            await _reply(send, 200, body)
        elif mode == "huge":
            await _raw(send, 200, b"[" + b"0," * 2_000_000 + b"0]", b"application/json")
        elif mode == "huge_chunked":
            await _chunked(send, chunk=b" " * 65536, count=64)
        elif scope["path"] == "/v2/health/ready":
            await _reply(send, 200, {"ready": True})
        elif is_ready_probe:
            await _reply(send, 200, {"name": MODEL, "ready": True})
        else:
            await _reply(send, 200, _ok_body(request))


async def _reply(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _raw(send, status, json.dumps(body).encode(), b"application/json", headers)


async def _raw(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    all_headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": status, "headers": all_headers + (headers or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _chunked(send: Send, chunk: bytes, count: int) -> None:
    # No Content-Length: only counting while streaming can stop this one.
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for _ in range(count):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def refused_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    return free_port()
