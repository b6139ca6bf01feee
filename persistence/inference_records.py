"""Inference records: the pending row written before an ML call, its outcome after, the
caller-scoped reads, and the per-user request window behind the rate limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from psycopg.types.json import Jsonb
from sqlalchemy import Text, bindparam, cast, func, literal_column, select, tuple_
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import ColumnClause

from domain.queries import RecordQuery
from persistence.executor import Executor
from persistence.listing import Listing
from persistence.schema import inference_records
from persistence.sql import Sql

if TYPE_CHECKING:
    from psycopg.rows import DictRow


_r = inference_records
# The first key of the two-key advisory lock form: a space of its own, apart from the
# single-key locks (the migration runner's) and from other uses of the two-key form.
_RATE_LOCK_SPACE = 4004

_GET = Sql(select(_r).where(_r.c.id == bindparam("id")))
_INSERT = Sql(
    _r.insert()
    .values(
        requested_by=bindparam("requested_by"),
        patient_id=bindparam("patient_id"),
        appointment_id=bindparam("appointment_id"),
        model_name=bindparam("model_name"),
        input_sha256=bindparam("input_sha256"),
    )
    .returning(_r.c.id)
)
_SUCCEED = Sql(
    _r.update()
    .where(_r.c.id == bindparam("id"), _r.c.status == "pending")
    .values(
        status="succeeded",
        model_version=bindparam("model_version"),
        outputs=bindparam("outputs"),
        upstream_status=bindparam("upstream_status"),
        latency_ms=bindparam("latency_ms"),
        completed_at=func.clock_timestamp(),
    )
)
_FAIL = Sql(
    _r.update()
    .where(_r.c.id == bindparam("id"), _r.c.status == "pending")
    .values(
        status="failed",
        error_class=bindparam("error_class"),
        error_reason=bindparam("error_reason"),
        upstream_status=bindparam("upstream_status"),
        latency_ms=bindparam("latency_ms"),
        completed_at=func.clock_timestamp(),
    )
)
_LOCK_REQUESTER = Sql(
    select(
        func.pg_advisory_xact_lock(
            literal_column(str(_RATE_LOCK_SPACE)), func.hashtext(cast(bindparam("user_id"), Text))
        )
    )
)
# The request that must leave the window before another fits: the ``limit``-th newest in it.
_SECONDS: ColumnClause[Any] = literal_column("interval '1 second'")
_WINDOW_START = func.now() - _SECONDS * bindparam("window")
_BLOCKING = Sql(
    select(
        func.ceil(
            func.extract("epoch", _r.c.requested_at + _SECONDS * bindparam("window") - func.now())
        ).label("retry_after")
    )
    .where(_r.c.requested_by == bindparam("user_id"), _r.c.requested_at > _WINDOW_START)
    .order_by(_r.c.requested_at.desc())
    .offset(bindparam("offset"))
    .limit(1)
)


def _newest_first(where: list[ColumnElement[bool]], shape: frozenset[str]) -> Any:
    if "after" in shape:
        key = tuple_(_r.c.requested_at, _r.c.id)
        where.append(key < tuple_(bindparam("after_at"), bindparam("after_id")))
    return (
        select(_r)
        .where(*where)
        .order_by(_r.c.requested_at.desc(), _r.c.id.desc())
        .limit(bindparam("limit"))
    )


LISTING = Listing(
    RecordQuery,
    {
        "scope_requested_by": lambda: [_r.c.requested_by == bindparam("scope_requested_by")],
        "model_name": lambda: [_r.c.model_name == bindparam("model_name")],
        "patient_id": lambda: [_r.c.patient_id == bindparam("patient_id")],
    },
    _newest_first,
    binders={"after": lambda after: {"after_at": after[0], "after_id": after[1]}},
    cache_size=64,
)


class InferenceRecordRepository:
    def __init__(self, executor: Executor) -> None:
        self._run = executor

    async def add_pending(
        self,
        *,
        requested_by: UUID,
        patient_id: UUID | None,
        appointment_id: UUID | None,
        model_name: str,
        input_sha256: str,
    ) -> UUID:
        row = await self._run.fetch_one(
            _INSERT,
            {
                "requested_by": requested_by,
                "patient_id": patient_id,
                "appointment_id": appointment_id,
                "model_name": model_name,
                "input_sha256": input_sha256,
            },
        )
        assert row is not None
        record_id: UUID = row["id"]
        return record_id

    async def succeed(
        self,
        record_id: UUID,
        *,
        model_version: str | None,
        outputs: Mapping[str, Any],
        upstream_status: int,
        latency_ms: float,
    ) -> bool:
        """Settle a pending record as succeeded; False if it was not pending any more."""
        params = {
            "id": record_id,
            "model_version": model_version,
            "outputs": Jsonb(dict(outputs)),
            "upstream_status": upstream_status,
            "latency_ms": latency_ms,
        }
        return await self._run.execute(_SUCCEED, params) == 1

    async def fail(
        self,
        record_id: UUID,
        *,
        error_class: str,
        upstream_status: int | None,
        latency_ms: float | None,
        error_reason: str | None = None,
    ) -> bool:
        """Settle a pending record as failed; False if it was not pending any more."""
        params = {
            "id": record_id,
            "error_class": error_class,
            "error_reason": None if error_reason is None else error_reason[:300],
            "upstream_status": upstream_status,
            "latency_ms": latency_ms,
        }
        return await self._run.execute(_FAIL, params) == 1

    async def get(self, record_id: UUID) -> DictRow | None:
        return await self._run.fetch_one(_GET, {"id": record_id})

    async def find(self, query: RecordQuery) -> list[DictRow]:
        return await self._run.fetch_all(*LISTING.statement(query))

    async def lock_requester(self, user_id: UUID) -> None:
        """Serialise one user's admissions until the transaction ends, so that concurrent
        requests cannot all count the same window and all pass the limit."""
        await self._run.fetch_one(_LOCK_REQUESTER, {"user_id": user_id})

    async def seconds_until_room(
        self, user_id: UUID, limit: int, window_seconds: int
    ) -> int | None:
        """None while the user made fewer than ``limit`` requests in the last
        ``window_seconds``; otherwise the whole seconds until the oldest that counts leaves."""
        row = await self._run.fetch_one(
            _BLOCKING, {"user_id": user_id, "offset": limit - 1, "window": window_seconds}
        )
        return None if row is None else max(1, int(row["retry_after"]))
