"""Every reply carries an X-Request-ID: the caller's when it is a safe token, else a new one."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from handlers.context import REQUEST_ID_KEY
from service.edge import Edge
from service.observability import request_id
from tests.conftest import assert_problem

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_a_well_formed_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    reply = await client.get("/health/live", headers={"X-Request-ID": "lb-7f3a.b_c-9"})
    assert reply.headers["x-request-id"] == "lb-7f3a.b_c-9"


async def test_a_request_without_an_id_gets_a_fresh_one(client: httpx.AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "unsafe",
    ["x" * 65, "has space", "semi;colon", 'quote"', "line\\nbreak", "", "ünïcode"],
)
def test_an_unsafe_request_id_is_replaced(unsafe: str) -> None:
    header = [(b"x-request-id", unsafe.encode())]
    assert GENERATED.fullmatch(request_id(header))


def test_the_longest_allowed_request_id_is_kept() -> None:
    assert request_id([(b"x-request-id", b"a" * 64)]) == "a" * 64


async def test_error_replies_carry_the_request_id_too(client: httpx.AsyncClient) -> None:
    unauthenticated = await client.get("/users/me", headers={"X-Request-ID": "err-1"})
    assert_problem(unauthenticated, 401)
    assert unauthenticated.headers["x-request-id"] == "err-1"
    missing = await client.get("/no/such/path", headers={"X-Request-ID": "err-2"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "err-2"


async def test_the_request_id_waits_in_the_scope_for_outgoing_calls() -> None:
    seen: dict[str, str] = {}

    async def downstream(scope: Scope, receive: Receive, send: Send) -> None:
        seen["id"] = scope[REQUEST_ID_KEY]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=Edge(downstream, routes={}, max_body_bytes=1024))
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as c:
        reply = await c.get("/anything", headers={"X-Request-ID": "to-ml-1"})
    assert reply.status_code == 204
    assert seen == {"id": "to-ml-1"}


async def test_the_bare_500_for_an_uncaught_error_carries_the_request_id() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("nothing caught this")

    edge = Edge(broken, routes={}, max_body_bytes=1024)
    transport = httpx.ASGITransport(app=edge, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medai.test") as c:
        reply = await c.get("/anything", headers={"X-Request-ID": "crash-1"})
    assert_problem(reply, 500)
    assert reply.headers["x-request-id"] == "crash-1"
