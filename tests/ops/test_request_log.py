"""One JSON access line per request, with what an operator searches by and nothing private."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from service.logs import ACCESS_LOGGER, JsonFormatter
from tests.conftest import PASSWORD, MakeUser

FIELDS = {"method", "route", "operation", "status", "duration_ms", "request_id", "user_id"}


class Logged:
    """What the service logged: records through ``logging``, and the access lines, which
    ``AccessLog`` writes to stderr directly."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]):
        self.caplog = caplog
        self.capsys = capsys
        self.stderr = ""

    def clear(self) -> None:
        self.caplog.clear()
        self.capsys.readouterr()
        self.stderr = ""

    def access_lines(self) -> list[dict[str, object]]:
        self.stderr += self.capsys.readouterr().err
        lines = [orjson.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == ACCESS_LOGGER]

    def everything(self) -> str:
        """All the service wrote (the test's own HTTP client logs its URLs; not the service's)."""
        formatter = JsonFormatter()
        self.access_lines()  # reads what stderr holds so far
        records = (
            formatter.format(record)
            for record in self.caplog.records
            if not record.name.startswith(("httpx", "httpcore"))
        )
        return "\n".join([*records, self.stderr])


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Logged:
    caplog.set_level(logging.INFO)
    return Logged(caplog, capsys)


async def test_each_request_writes_one_line_with_its_fields(
    client: httpx.AsyncClient, make_user: MakeUser, access_log: Logged
) -> None:
    admin = await make_user("admin")
    other = await make_user("patient", login=False)
    access_log.clear()
    reply = await client.get(
        f"/users/{other.id}", headers={**admin.headers, "X-Request-ID": "log-1"}
    )
    assert reply.status_code == 200
    [line] = access_log.access_lines()
    assert line.keys() >= FIELDS
    assert line["method"] == "GET"
    assert line["route"] == "/users/{user_id}"
    assert line["operation"] == "getUser"
    assert line["status"] == 200
    assert line["request_id"] == "log-1"
    assert line["user_id"] == admin.id
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert line["logger"] == ACCESS_LOGGER


async def test_the_log_never_holds_tokens_passwords_or_query_values(
    client: httpx.AsyncClient, make_user: MakeUser, access_log: Logged
) -> None:
    admin = await make_user("admin")
    access_log.clear()
    login = await client.post("/auth/login", json={"email": admin.email, "password": PASSWORD})
    tokens = login.json()
    await client.get("/users", params={"q": "Petrova-Secret"}, headers=admin.headers)
    logged = access_log.everything()
    assert len(access_log.access_lines()) == 2
    for secret in (
        admin.token,
        tokens["access_token"],
        tokens["refresh_token"],
        PASSWORD,
        "Petrova-Secret",
    ):
        assert secret not in logged


async def test_error_replies_are_logged_with_their_status(
    client: httpx.AsyncClient, access_log: Logged
) -> None:
    await client.get("/users/me", headers={"Authorization": "Bearer not-a-token"})
    await client.get("/no/such/path/alice@example.org")
    refused, missing = access_log.access_lines()
    assert (refused["status"], refused["operation"], refused["user_id"]) == (
        401,
        "getCurrentUser",
        None,
    )
    # A path outside the spec is chosen by the client and may be personal: not logged.
    assert (missing["status"], missing["route"], missing["operation"]) == (404, None, None)
    assert "alice@example.org" not in access_log.everything()
    assert "not-a-token" not in access_log.everything()
