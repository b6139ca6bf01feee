"""No secret reaches a log: the auth endpoints are fuzzed with a unique marker in every secret
field (valid, too long, of the wrong type, badly encoded, in the Authorization header), and all
log output is searched for the markers: every record in-process with the root logger at DEBUG,
and the stderr of a real ``medai serve`` at debug level.

On the code before this test, a sign-in form with an over-long password or client secret logged
the value at ERROR (Connexion's form validator quotes it), and a JSON body's at INFO.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from service import logs
from service.embedded_db import EmbeddedPostgres
from service.logs import JsonFormatter
from tests.conftest import PASSWORD, MakeUser
from tests.contract import live

TOO_LONG = 1100  # over every secret field's maxLength (1024 for passwords)


@dataclass
class Markers:
    """Unique strings, each standing for one secret sent once."""

    issued: list[str] = field(default_factory=list)

    def new(self) -> str:
        # Letters and digits only: no encoding or escaping in any log format changes it.
        marker = f"Zq{uuid.uuid4().hex}Xk"
        self.issued.append(marker)
        return marker

    def long(self) -> str:
        marker = self.new()
        return (marker * (TOO_LONG // len(marker) + 1))[:TOO_LONG]

    def found_in(self, text: str) -> list[str]:
        return [marker for marker in self.issued if marker in text]


JSON = {"Content-Type": "application/json"}


def variants(markers: Markers) -> Iterator[Any]:
    """Values for one secret field: valid-looking, too long, wrong types."""
    yield markers.new() + " passphrase"
    yield markers.long()
    yield [markers.new()]
    yield {"secret": markers.new()}
    yield "\t" + markers.new() + "\n"


def raw_bodies(markers: Markers, template: str) -> Iterator[bytes]:
    """Bodies that are not clean JSON, the marker inside: bad UTF-8, a lone surrogate,
    truncation, nesting."""
    yield template.replace("@", markers.new()).encode() + b"\xff\xfe"
    yield template.replace("@", markers.new() + "\\ud800").encode()
    yield template.replace("@", markers.new()).encode()[:-3]
    yield ("[" * 40 + template.replace("@", markers.new()) + "]" * 40).encode()
    yield template.replace("@", markers.new()).encode("utf-16")


def authorizations(markers: Markers) -> Iterator[dict[str, str]]:
    yield {"Authorization": f"Bearer {markers.new()}"}
    yield {"Authorization": f"Bearer {markers.long()}"}
    yield {"Authorization": f"Basic {markers.new()}"}
    yield {"Authorization": markers.new()}
    yield {"Authorization": f"bearer  {markers.new()} {markers.new()}"}


async def fuzz_auth_endpoints(
    client: httpx.AsyncClient, markers: Markers, email: str, user_id: str, token: str
) -> list[int]:
    """Every secret field of the auth endpoints, every way; the statuses seen."""
    statuses: list[int] = []

    async def send(method: str, url: str, **kwargs: Any) -> None:
        reply = await client.request(method, url, **kwargs)
        statuses.append(reply.status_code)

    me = {"Authorization": f"Bearer {token}"}
    for value in variants(markers):
        await send(
            "POST",
            "/auth/register",
            json={"email": "new@example.org", "password": value, "full_name": "N"},
        )
        await send("POST", "/auth/login", json={"email": email, "password": value})
        await send("POST", "/auth/refresh", json={"refresh_token": value})
        await send("POST", "/auth/logout", json={"refresh_token": value}, headers=me)
        await send(
            "PUT",
            f"/users/{user_id}",
            json={"password": value, "current_password": "not my password"},
            headers=me,
        )
        await send(
            "PUT",
            f"/users/{user_id}",
            json={"password": "a brand new passphrase", "current_password": value},
            headers=me,
        )
    for secret in ("password", "client_secret", "client_id"):
        for value in (markers.new(), markers.long()):
            form = {
                "grant_type": "password",
                "username": email,
                "password": "not it!!",
                secret: value,
            }
            await send("POST", "/auth/login", data=form)
    # An unknown form field, and a form where JSON is expected.
    await send(
        "POST",
        "/auth/login",
        data={
            "grant_type": "password",
            "username": email,
            "password": markers.new(),
            "refresh_token": markers.new(),
        },
    )
    await send("POST", "/auth/refresh", data={"refresh_token": markers.new()})
    await send(
        "POST",
        "/auth/login",
        content=f"password={markers.new()}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
    )
    for template, url in (
        ('{"email": "x@example.org", "password": "@", "full_name": "N"}', "/auth/register"),
        ('{"email": "x@example.org", "password": "@"}', "/auth/login"),
        ('{"refresh_token": "@"}', "/auth/refresh"),
    ):
        for body in raw_bodies(markers, template):
            await send("POST", url, content=body, headers=JSON)
            await send("POST", url, content=body)  # no Content-Type at all
    for body in raw_bodies(markers, '{"password": "@", "current_password": "@"}'):
        await send("PUT", f"/users/{user_id}", content=body, headers={**JSON, **me})
    for headers in authorizations(markers):
        await send("GET", "/users/me", headers=headers)
        await send("POST", "/auth/logout", json={"refresh_token": markers.new()}, headers=headers)
        await send(
            "PUT",
            f"/users/{user_id}",
            json={"password": markers.new(), "current_password": markers.new()},
            headers=headers,
        )
    await send(
        "GET", "/users/me", headers={"Authorization": b"Bearer \xe9" + markers.new().encode()}
    )
    # A valid secret, used the right way: the issued tokens are secrets too.
    password = markers.new() + " passphrase"
    register = {
        "email": f"fuzz-{uuid.uuid4().hex[:8]}@example.org",
        "password": password,
        "full_name": "F",
    }
    created = await client.post("/auth/register", json=register)
    assert created.status_code == 201, created.text
    reply = await client.post(
        "/auth/login", json={"email": register["email"], "password": password}
    )
    assert reply.status_code == 200, reply.text
    pair = reply.json()
    markers.issued += [pair["access_token"], pair["refresh_token"]]
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    markers.issued += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    # Reuse of a spent token ends the sign-in (and is audited): still nothing logged.
    await send("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    await send("GET", "/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    # A password change that succeeds (with a token of a live sign-in: log in again).
    again = await client.post(
        "/auth/login", json={"email": register["email"], "password": password}
    )
    assert again.status_code == 200, again.text
    markers.issued += [again.json()["access_token"], again.json()["refresh_token"]]
    changed = await client.put(
        f"/users/{created.json()['id']}",
        json={"password": markers.new() + " passphrase", "current_password": password},
        headers={"Authorization": f"Bearer {again.json()['access_token']}"},
    )
    statuses.append(changed.status_code)
    return statuses


def everything_in(record: logging.LogRecord) -> str:
    """All a handler could write from a record: its message, its traceback unredacted, its
    extra fields, and our JSON line."""
    parts = [record.getMessage(), JsonFormatter().format(record)]
    parts += [
        repr(value)
        for key, value in record.__dict__.items()
        if key not in ("msg", "args", "exc_info")  # the raw forms of the message and traceback
    ]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


async def test_no_secret_sent_to_the_auth_endpoints_is_logged_in_process(
    client: httpx.AsyncClient, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user()
    markers = Markers()
    caplog.set_level(logging.DEBUG)
    statuses = await fuzz_auth_endpoints(client, markers, user.email, user.id, user.token)
    # Some bad inputs may still crash (another issue's work); a crash's log must not leak either.
    assert len(statuses) > 90
    assert len(caplog.records) > 50  # the fuzzing was heard: refusals are logged at DEBUG/INFO
    leaks = [
        (record.name, record.levelname, markers.found_in(everything_in(record)))
        for record in caplog.records
    ]
    assert [leak for leak in leaks if leak[2]] == []


async def test_a_validation_refusal_names_the_field_at_info(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The sign-in form's validator logged the refused password itself, at ERROR.
    caplog.set_level(logging.DEBUG)
    marker = Markers().long()
    form = {"grant_type": "password", "username": "a@example.org", "password": marker}
    assert (await client.post("/auth/login", data=form)).status_code == 400
    refusals = [r for r in caplog.records if "refused by validation" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in refusals] == [
        ("INFO", "request refused by validation (values withheld from the log): /password")
    ]
    assert not any(marker in everything_in(record) for record in caplog.records)
    # Where INFO is off, the refusal, an INFO line, is not written at all.
    caplog.clear()
    caplog.set_level(logging.WARNING)
    assert (await client.post("/auth/login", data=form)).status_code == 400
    assert [r for r in caplog.records if "refused by validation" in r.getMessage()] == []


@pytest.fixture(scope="module")
def debug_service(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[live.LiveService]:
    with live.scratch_database(postgres, "medai_secrets") as url:
        env = {"DATABASE_URL": url, "MEDAI_LOG_LEVEL": "debug", "MEDAI_BCRYPT_COST": "4"}
        data_dir: Path = tmp_path_factory.mktemp("secrets-service")
        with live.serve(data_dir, env) as running:
            yield running


async def test_no_secret_reaches_the_log_of_a_real_service(
    debug_service: live.LiveService,
) -> None:
    markers = Markers()
    async with httpx.AsyncClient(base_url=debug_service.base_url, timeout=30) as client:
        email = f"owner-{uuid.uuid4().hex[:8]}@example.org"
        body = {"email": email, "password": PASSWORD, "full_name": "Owner"}
        created = await client.post("/auth/register", json=body)
        assert created.status_code == 201, created.text
        signed_in = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
        token = signed_in.json()["access_token"]
        markers.issued += [token, signed_in.json()["refresh_token"]]
        statuses = await fuzz_auth_endpoints(client, markers, email, created.json()["id"], token)
    assert len(statuses) > 90
    log = debug_service.log_path.read_text(errors="replace")
    assert '"level":"debug"' in log or '"level":"info"' in log  # it was logging at all
    assert markers.found_in(log) == []


def test_the_log_sink_masks_credentials_in_messages_and_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever a library puts in a message or an exception, ``medai serve``'s one handler
    masks what is shaped like a credential."""
    secrets_ = [
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldA",
        "mrt_" + "Q" * 43,
        "dXNlcjpwYXNzd29yZDEyMw",
    ]
    document = logs.config("debug")
    assert document["root"]["handlers"] == ["stderr"]
    assert document["handlers"]["stderr"]["filters"] == ["secrets"]
    # The handler that document describes, on a logger of its own (the root stays pytest's).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(document["filters"]["secrets"]["()"]())
    log = logging.getLogger("tests.sink")
    log.propagate, log.level = False, logging.DEBUG
    log.addHandler(handler)
    try:
        log.warning("upstream said: Authorization: Bearer %s", secrets_[0])
        log.info("refresh %s and Basic %s", secrets_[1], secrets_[2])
        try:
            raise ValueError(f"bad token {secrets_[0]}")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    written = capsys.readouterr().err
    assert written.count(logs.WITHHELD) == 4
    assert "ValueError: bad token" in written
    assert [secret for secret in secrets_ if secret in written] == []
