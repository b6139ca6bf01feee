"""The baseline: the appointment list written by hand on bare Starlette and a psycopg pool.

It does the work the service does for ``GET /appointments`` and nothing else: the same
access-token check (``TokenService.decode_access`` behind the same memo, ``VerifiedTokens``),
the same session query against ``users``/``sessions``, the same list statement and audit
insert (their SQL text is taken from the repositories, so the database work is identical),
each statement committing by itself as the service's do (no BEGIN/COMMIT), orjson. No spec,
no validation, no middleware, no log line. The ratio service/bare is then what the framework
and the layering cost.

Run by the benchmark: ``python -m benchmarks.bare_app`` with ``BENCH_DATABASE_URL``,
``BENCH_JWT_SECRET`` and ``BENCH_PORT`` set.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
import uvicorn
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.tokens import TokenService
from domain.credentials import InvalidToken
from domain.paging import Cursors
from domain.queries import AppointmentQuery

# The repositories' own compiled statements, private to them, on purpose: the baseline must
# send PostgreSQL exactly what the service sends.
from persistence.appointments import LISTING
from persistence.audit import _INSERT as INSERT_EVENT
from persistence.users import _SESSION_STATE as SESSION_STATE
from service.verified_tokens import VerifiedTokens

COLUMNS = (
    "id",
    "patient_id",
    "patient_name",
    "doctor_id",
    "doctor_name",
    "start_at",
    "end_at",
    "status",
    "reason",
    "notes",
    "cancellation_reason",
    "version",
    "created_at",
    "updated_at",
)
UNAUTHORIZED = Response(
    b'{"type":"about:blank","title":"Unauthorized","status":401}',
    401,
    media_type="application/problem+json",
)


def build(database_url: str, secret: str, pool_size: int = 10) -> Starlette:
    cursors = Cursors.derived_from(secret)  # the service signs its cursors: so does the baseline
    tokens = TokenService(
        secret=secret, issuer="medai-backend", audience="medai-api", ttl_seconds=900
    )
    verified = VerifiedTokens(tokens.decode_access)
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        database_url,
        min_size=pool_size,
        max_size=pool_size,
        open=False,
        kwargs={"autocommit": True, "options": "-c TimeZone=UTC"},
    )

    async def list_appointments(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return UNAUTHORIZED
        try:
            claims = verified.claims(header[7:])
        except InvalidToken:
            return UNAUTHORIZED
        args = request.query_params
        limit = min(max(int(args.get("limit", 20)), 1), 100)
        window_from = datetime.fromisoformat(args["from"]) if "from" in args else None
        window_to = datetime.fromisoformat(args["to"]) if "to" in args else None
        async with pool.connection() as conn:
            cur = await conn.execute(
                SESSION_STATE.text, {"id": claims.user_id, "session_id": claims.session_id}
            )
            state = await cur.fetchone()
            if state is None or not (state[1] and state[3]) or state[2] != claims.session_version:
                return UNAUTHORIZED
            role = state[0]
            query = AppointmentQuery(
                scope_patient_id=claims.user_id if role == "patient" else None,
                scope_doctor_id=claims.user_id if role == "doctor" else None,
                window_from=window_from,
                window_to=window_to,
                limit=limit + 1,
            )
            sql, params = LISTING.statement(query)
            cur = await conn.execute(sql.text, sql.bind(params))
            rows = await cur.fetchall()
            page = [dict(zip(COLUMNS, row, strict=True)) for row in rows[:limit]]
            await conn.execute(
                INSERT_EVENT.text,
                {
                    "actor_id": claims.user_id,
                    "actor_role": role,
                    "client_address": request.client.host if request.client else None,
                    "user_agent": request.headers.get("user-agent"),
                    "request_id": uuid.uuid4().hex,
                    "action": "appointment.search",
                    "resource_type": "appointment",
                    "resource_id": None,
                    "patient_ids": sorted({row["patient_id"] for row in page}),
                    "outcome": 200,
                    "reason": None,
                },
            )
        more = len(rows) > limit
        body = {
            "items": page,
            "next_cursor": cursors.issue(
                "appointments", claims.user_id, page[-1]["start_at"], page[-1]["id"]
            )
            if more and page
            else None,
            "limit": limit,
        }
        return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    return Starlette(routes=[Route("/appointments", list_appointments)], lifespan=lifespan)


def main() -> None:
    serve(build(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_JWT_SECRET"]))


def serve(app: Any, access_log: bool = False) -> None:
    """On ``BENCH_PORT``, as the service's worker runs: uvloop, httptools; no access log unless
    asked (then uvicorn's own line per request, at INFO)."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        loop="uvloop",
        http="httptools",
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )


if __name__ == "__main__":
    main()
