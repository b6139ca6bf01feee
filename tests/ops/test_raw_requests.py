"""Issue 13's body classes against the real server (uvicorn's own HTTP parser, two workers),
written byte by byte as a client on a socket would: a chunked body with no Content-Length, and
a JSON body with no Content-Type."""

from __future__ import annotations

import contextlib
import socket
from urllib.parse import urlsplit

import orjson

from tests.ops.conftest import Served


def exchange(served: Served, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the reply (the server closes or sends a
    Content-Length: both are read to the end)."""
    address = urlsplit(served.base_url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        # A refusal may come before the whole body is sent: read it all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += conn.recv(65536)
        head, _, body = reply.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", "0")):
            body += conn.recv(65536)
    return int(lines[0].split()[1]), headers, body


def chunked_post(path: str, body: bytes, size: int = 4096) -> bytes:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: medai.test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + chunks + b"0\r\n\r\n"


def test_a_chunked_body_over_the_limit_is_a_413(served: Served) -> None:
    body = b'{"email": "a@example.org", "full_name": "' + b"x" * 200_000 + b'"}'
    status, headers, reply = exchange(served, chunked_post("/auth/register", body))
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert orjson.loads(reply)["status"] == 413


def test_a_small_chunked_body_is_read(served: Served) -> None:
    # A wrong password: read, validated and refused by the sign-in itself, not as "no body".
    body = orjson.dumps({"email": "nobody@example.org", "password": "a long passphrase"})
    status, _, reply = exchange(served, chunked_post("/auth/login", body, size=5))
    assert status == 401, reply


def test_a_json_body_without_a_content_type_is_a_415(served: Served) -> None:
    body = orjson.dumps({"email": "nobody@example.org", "password": "a long passphrase"})
    request = (
        b"POST /auth/login HTTP/1.1\r\nHost: medai.test\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    status, headers, reply = exchange(served, request)
    assert status == 415
    assert headers["accept"] == "application/json, application/x-www-form-urlencoded"
    assert orjson.loads(reply)["errors"][0]["parameter"] == "Content-Type"
