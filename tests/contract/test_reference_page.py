"""``/docs/reference`` serves the built HTML reference and nothing else; ``medai serve`` builds
a missing one in the background, and it is served once written."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from service.reference import NOT_BUILT, REFERENCE_PATH, ReferencePage, build_in_background


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


async def test_a_page_built_after_start_is_served_without_a_restart(tmp_path: Path) -> None:
    page = tmp_path / "reference.html"
    async with _client(page) as client:
        assert (await client.get(REFERENCE_PATH)).status_code == 404
        page.write_text("<!doctype html><title>built since</title>")
        reply = await client.get(REFERENCE_PATH)
    assert reply.status_code == 200
    assert "built since" in reply.text


def _fake_redocly(tmp_path: Path, script: str) -> Path:
    tool = tmp_path / "redocly"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return tool


def test_serve_builds_a_missing_page_in_the_background(tmp_path: Path) -> None:
    # Writes its last argument (the --output file), as `redocly build-docs` does.
    tool = _fake_redocly(tmp_path, 'for last; do :; done; echo "<!doctype html>" > "$last"\n')
    page = tmp_path / "reference.html"
    build = build_in_background(page, redocly=tool)
    assert build is not None
    build.join(timeout=60)
    assert page.read_text() == "<!doctype html>\n"
    assert set(tmp_path.iterdir()) == {tool, page}


def test_a_failed_build_leaves_no_page_behind(tmp_path: Path) -> None:
    tool = _fake_redocly(tmp_path, 'for last; do :; done; echo partial > "$last"; exit 1\n')
    page = tmp_path / "reference.html"
    build = build_in_background(page, redocly=tool)
    assert build is not None
    build.join(timeout=60)
    assert set(tmp_path.iterdir()) == {tool}


def test_nothing_is_built_when_the_page_exists_or_redocly_is_missing(tmp_path: Path) -> None:
    page = tmp_path / "reference.html"
    assert build_in_background(page, redocly=tmp_path / "no-redocly") is None
    page.write_text("<!doctype html>")
    tool = _fake_redocly(tmp_path, "exit 1\n")
    assert build_in_background(page, redocly=tool) is None
