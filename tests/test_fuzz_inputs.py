"""Property-based fuzzing of what a client can send, beyond what schemathesis derives from the
schema: raw and mutated bodies, media types and charsets, chunked framing, deep nesting, lone
surrogates, forged and foreign cursors, timestamps at and past the ends of time, odd headers.

Whatever is sent: never a 5xx, every 4xx is problem+json (with ``errors`` on a 400 from
validation), and a refused request leaves the data as it was. Derandomized with a fixed number
of examples, so a run is repeatable and bounded (well under a minute here).
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model import Role
from tests.appointments.conftest import at, book
from tests.conftest import Account, MakeUser

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class World:
    """Accounts, one appointment and real cursors, made once per test; the counts a refused
    request must not change are read through ``conn``."""

    client: httpx.AsyncClient
    conn: psycopg.AsyncConnection[Any]
    patient: Account
    doctor: Account
    admin: Account
    appointment: str
    cursors: list[str]

    def identity(self, name: str) -> dict[str, str]:
        accounts = {"patient": self.patient, "doctor": self.doctor, "admin": self.admin}
        return accounts[name].headers if name in accounts else {}

    async def state(self) -> tuple[Any, ...]:
        # Audit events and sign-in failures are written for refusals too, by design: the
        # data a refusal must leave alone is everything else.
        cur = await self.conn.execute(
            "SELECT (SELECT count(*) FROM users),"
            " (SELECT coalesce(sum(session_version), 0) FROM users),"
            " (SELECT md5(string_agg(full_name || role || active::text, ',' ORDER BY id))"
            "  FROM users),"
            " (SELECT count(*) FROM refresh_tokens),"
            " (SELECT count(*) FROM appointments),"
            " (SELECT coalesce(sum(version), 0) FROM appointments),"
            " (SELECT count(*) FROM idempotency_keys),"
            " (SELECT count(*) FROM inference_records)"
        )
        row = await cur.fetchone()
        assert row is not None
        return tuple(row)


@pytest.fixture
async def world(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> AsyncIterator[World]:
    doctor, patient, admin = (
        await make_user(Role.DOCTOR),
        await make_user(),
        await make_user(Role.ADMIN),
    )
    booked = [await book(client, patient, start=s, doctor=doctor) for s in (1, 2, 3)]
    cursors = []
    for path, who in (
        ("/appointments", admin),
        ("/appointments", patient),
        ("/audit-events", admin),
    ):
        reply = await client.get(path, params={"limit": 1}, headers=who.headers)
        cursors.append(reply.json()["next_cursor"])
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield World(client, conn, patient, doctor, admin, booked[0].json()["id"], cursors)


async def check(world: World, request: httpx.Request) -> httpx.Response:
    """Send ``request``; the properties every reply must have."""
    before = await world.state()
    reply = await world.client.send(request)
    assert reply.status_code < 500, (request.method, request.url, reply.text)
    if reply.status_code >= 400:
        assert reply.headers["content-type"] == "application/problem+json", reply.headers
        problem = reply.json()
        assert problem["status"] == reply.status_code
        assert problem["title"]
        if reply.status_code in (400, 415) and "errors" in problem:
            for error in problem["errors"]:
                assert set(error) in ({"pointer", "message"}, {"parameter", "in", "message"})
        assert await world.state() == before, (request.method, request.url, reply.text)
    return reply


# ---- strategies -----------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339-shaped, across and past every range: years 1 to 9999, offsets to ±23:59, leap
    seconds, day 31 of any month, lowercase separators, no offset at all."""
    year = draw(st.sampled_from([1, 1899, 1900, 2030, 8999, 9000, 9999]) | st.integers(1, 9999))
    # Mostly well-formed, so that the range is what gets tested; sometimes not at all.
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 31))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 60)),
    )
    fraction = draw(st.sampled_from(["", ".5", ".999999", ".123456789"]))
    offset = draw(
        st.sampled_from(["Z", "z", "", "+14:00", "-14:00", "+23:59", "-23:59", "+00:00"])
        | st.builds(
            lambda h, m, s: f"{s}{h:02d}:{m:02d}",
            st.integers(0, 23),
            st.integers(0, 59),
            st.sampled_from("+-"),
        )
    )
    separator = draw(st.sampled_from(["T", "T", "t", " "]))
    date = f"{year:04d}-{month:02d}-{day:02d}"
    return f"{date}{separator}{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


def good_bodies(world: World) -> dict[str, dict[str, Any]]:
    return {
        "/auth/register": {
            "email": "fuzz@example.org",
            "password": "a long passphrase",
            "full_name": "F",
        },
        "/auth/login": {"email": world.patient.email, "password": "wrong passphrase"},
        "/auth/refresh": {"refresh_token": "mrt_" + "x" * 40},
        "/appointments": {"doctor_id": world.doctor.id, "start_at": at(40), "end_at": at(40.5)},
        "/inference": {"model": "breast-cancer", "features": {"mean_radius": 1.0}},
        "PUT /appointments": {"status": "cancelled"},
        "PUT /users": {"full_name": "Renamed"},
    }


@st.composite
def json_texts(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A JSON text near ``base``: a member replaced, dropped or added, a timestamp moved, then
    perhaps a lone surrogate, NaN, a byte order mark, truncation or deep nesting put in."""
    body: Any = dict(base)
    change = draw(st.sampled_from(["replace", "drop", "add", "time", "whole", "none"]))
    keys = sorted(body)
    if change == "replace" and keys:
        body[draw(st.sampled_from(keys))] = draw(VALUES)
    elif change == "drop" and keys:
        body.pop(draw(st.sampled_from(keys)))
    elif change == "add":
        body[draw(st.text(max_size=12))] = draw(VALUES)
    elif change == "time":
        body[draw(st.sampled_from(["start_at", "end_at"]))] = draw(timestamps())
    elif change == "whole":
        body = draw(VALUES)
    text = json.dumps(body, ensure_ascii=draw(st.booleans()))
    tweak = draw(
        st.sampled_from(["none", "none", "surrogate", "nan", "bom", "cut", "nest", "latin1"])
    )
    if tweak == "surrogate" and '"' in text:
        escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\udc00x", "\\ud83d\\ude00"]))
        cut = text.index('"') + 1
        text = text[:cut] + escape + text[cut:]
    elif tweak == "nan":
        text = text.replace("1.0", draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])))
    elif tweak == "cut":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif tweak == "nest":
        depth = draw(st.sampled_from([31, 32, 33, 1000, 1025, 20000]))
        text = (
            text.replace("null", "[" * depth + "]" * depth, 1)
            if "null" in text
            else "[" * depth + text + "]" * depth
        )
    raw = (
        text.encode("latin-1", "replace")
        if tweak == "latin1"
        else text.encode("utf-8", "surrogatepass")
    )
    return b"\xef\xbb\xbf" + raw if tweak == "bom" else raw


MEDIA_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "application/json;charset=nope",
        "application/json ; q=1",
        "application/problem+json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/*",
        "*/*",
        "",
        ";",
        "application/json/extra",
    ]
) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40)


def query(params: list[tuple[str, str]]) -> httpx.QueryParams:
    return httpx.QueryParams([(name, value) for name, value in params])  # repeats kept


def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    async def parts() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return parts()


# ---- the properties -------------------------------------------------------------------------

BODY_TARGETS = [
    ("POST", "/auth/register", "none"),
    ("POST", "/auth/login", "none"),
    ("POST", "/auth/refresh", "none"),
    ("POST", "/auth/logout", "patient"),
    ("PUT", "/users/{me}", "patient"),
    ("PUT", "/users/{me}", "admin"),
    ("POST", "/appointments", "patient"),
    ("PUT", "/appointments/{appointment}", "doctor"),
    ("POST", "/inference", "doctor"),
]


@FUZZ
@given(data=st.data())
async def test_no_body_and_media_type_gets_a_5xx_or_changes_data_when_refused(
    world: World, data: st.DataObject
) -> None:
    method, template, who = data.draw(st.sampled_from(BODY_TARGETS))
    path = template.format(me=world.patient.id, appointment=world.appointment)
    key = f"PUT /{path.split('/')[1]}" if method == "PUT" else path
    base = good_bodies(world).get(key, {"refresh_token": "mrt_" + "y" * 40})
    body = data.draw(
        json_texts(base)
        | st.binary(max_size=300)
        | st.just(b"email=a%40b.org&password=x&grant_type=password&username=u")
        | st.just(b"")
    )
    headers = {**world.identity(who), "If-Match": data.draw(st.sampled_from(["*", '"v1"', "x"]))}
    media_type = data.draw(MEDIA_TYPES)
    if media_type is not None:
        # Header bytes as a client may send them (httpx would refuse non-ASCII text).
        headers["Content-Type"] = media_type.encode("latin-1")  # type: ignore[assignment]
    framing = data.draw(st.sampled_from(["length", "chunked"]))
    content: bytes | AsyncIterator[bytes] = body
    if framing == "chunked":
        content = chunked(body, data.draw(st.integers(1, 64)))
    request = world.client.build_request(method, path, content=content, headers=headers)
    await check(world, request)


LIST_PARAMETERS = {
    "/appointments": ["doctor_id", "patient_id", "status", "from", "to", "sort", "limit", "cursor"],
    "/inference": ["model", "patient_id", "limit", "cursor"],
    "/audit-events": [
        "actor_id",
        "patient_id",
        "action",
        "resource_type",
        "resource_id",
        "from",
        "to",
        "limit",
        "cursor",
    ],
    "/users": ["role", "q", "limit", "offset"],
}


@FUZZ
@given(data=st.data())
async def test_no_list_query_gets_a_5xx(world: World, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(["/appointments", "/inference", "/audit-events", "/users"]))
    who = data.draw(st.sampled_from(["patient", "doctor", "admin", "admin", "admin"]))
    anything = st.text(max_size=40)
    values = {
        "cursor": cursors(world) | anything,
        "from": timestamps() | anything,
        "to": timestamps() | anything,
        "limit": st.sampled_from(["0", "-1", "100", "101", "1e3", "\uff11", ""]) | anything,
        "offset": st.sampled_from(["0", "10000", "10001", "-1"]) | anything,
        "sort": st.sampled_from(["start_at", "-start_at", ""]) | anything,
        "status": st.sampled_from(["booked", "booked,cancelled", ""]) | anything,
        "doctor_id": st.sampled_from([world.doctor.id, "None"]) | anything,
        "patient_id": st.sampled_from([world.patient.id, "None"]) | anything,
    }
    # The operation's own parameters, mostly: one it does not know refuses the whole request.
    names = [*LIST_PARAMETERS[path], *(["unknown"] if data.draw(st.integers(0, 9)) == 0 else [])]
    params = [
        (name, data.draw(values.get(name, anything)))
        for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
    ]
    request = world.client.build_request(
        "GET", path, params=query(params), headers=world.identity(who)
    )
    await check(world, request)


def cursors(world: World) -> st.SearchStrategy[str]:
    """Real cursors (of other lists and callers too), real ones changed in one character, and
    forged ones: base64url of JSON shaped like a sort key, or not."""
    forged = st.builds(
        lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("="),
        st.tuples(timestamps(), SCALARS)
        | st.tuples(timestamps(), SCALARS, st.booleans())
        | st.lists(SCALARS | timestamps(), max_size=4),
    )
    mutated = st.builds(
        lambda cursor, at, char: cursor[:at] + char + cursor[at + 1 :],
        st.sampled_from(world.cursors),
        st.integers(0, 150),
        st.sampled_from(string.ascii_letters + "-_="),
    )
    return forged | mutated | st.sampled_from(world.cursors)


@FUZZ
@given(data=st.data())
async def test_no_cursor_gets_a_5xx(world: World, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(["/appointments", "/inference", "/audit-events"]))
    params = [("cursor", data.draw(cursors(world)))]
    if path == "/appointments":
        params.append(("sort", data.draw(st.sampled_from(["start_at", "-start_at"]))))
    who = data.draw(st.sampled_from(["admin", "admin", "patient", "doctor"]))
    request = world.client.build_request(
        "GET", path, params=query(params), headers=world.identity(who)
    )
    await check(world, request)


@FUZZ
@given(data=st.data())
async def test_no_time_window_gets_a_5xx(world: World, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(["/appointments", "/audit-events"]))
    params = [
        (name, data.draw(timestamps()))
        for name in data.draw(st.sets(st.sampled_from(["from", "to"]), min_size=1))
    ]
    request = world.client.build_request(
        "GET", path, params=query(params), headers=world.admin.headers
    )
    await check(world, request)


@FUZZ
@given(data=st.data())
async def test_no_path_or_header_gets_a_5xx(world: World, data: st.DataObject) -> None:
    template = data.draw(
        st.sampled_from(["/users/{}", "/appointments/{}", "/inference/{}", "/users/{}"])
    )
    segment = data.draw(
        st.sampled_from(
            [world.appointment, world.patient.id, "None", "0", "%ED%A0%80", "%00", "..", "a" * 300]
        )
        | st.text(alphabet=string.ascii_letters + string.digits + "-._~%", min_size=1, max_size=40)
    )
    method = data.draw(st.sampled_from(["GET", "DELETE", "PUT"]))
    latin1 = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=120)
    headers = [
        (name.encode(), data.draw(latin1).encode("latin-1"))
        for name in data.draw(
            st.lists(
                st.sampled_from(
                    [
                        "If-Match",
                        "Idempotency-Key",
                        "Authorization",
                        "Accept",
                        "X-Request-ID",
                        "Content-Length",
                    ]
                ),
                max_size=3,
                unique=True,
            )
        )
    ]
    if not any(name == b"Authorization" for name, _ in headers):
        who = data.draw(st.sampled_from(["patient", "doctor", "admin"]))
        headers += [(k.encode(), v.encode()) for k, v in world.identity(who).items()]
    content = (
        data.draw(st.none() | st.just(b'{"status": "cancelled"}')) if method == "PUT" else None
    )
    if content is not None:
        headers.append((b"Content-Type", b"application/json"))
    request = world.client.build_request(
        method, template.format(segment), content=content, headers=headers
    )
    await check(world, request)
