"""``/docs/reference`` serves the built HTML reference and nothing else."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from service.reference import NOT_BUILT, REFERENCE_PATH, ReferencePage


async def _downstream(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("downstream")(scope, receive, send)


def _client(page: Path) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=ReferencePage(_downstream, page))
    return httpx.AsyncClient(transport=transport, base_url="http://medai.test")


async def test_the_built_page_is_served_as_html(tmp_path: Path) -> None:
    page = tmp_path / "reference.html"
    page.write_text("<!doctype html><title>MedAI API</title>")
    async with _client(page) as client:
        reply = await client.get(REFERENCE_PATH)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.text == page.read_text()


async def test_an_unbuilt_page_is_a_problem_saying_how_to_build_it(tmp_path: Path) -> None:
    async with _client(tmp_path / "missing.html") as client:
        reply = await client.get(REFERENCE_PATH)
    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"] == NOT_BUILT


async def test_only_reads_are_allowed(tmp_path: Path) -> None:
    page = tmp_path / "reference.html"
    page.write_text("<!doctype html>")
    async with _client(page) as client:
        reply = await client.post(REFERENCE_PATH)
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, HEAD"


async def test_other_paths_pass_through(tmp_path: Path) -> None:
    async with _client(tmp_path / "reference.html") as client:
        reply = await client.get(REFERENCE_PATH + "/other")
    assert reply.text == "downstream"
