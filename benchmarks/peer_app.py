"""The peer: the same work as the service's appointment list, get and liveness probe, written
the way a FastAPI + SQLModel application usually is.

Same work means: the same access-token check (PyJWT behind the same memo,
``service.verified_tokens``), the session query (role, active, session version, session
live), the list (the caller's appointments with both parties' names, by start time, one row
more than the page to know whether a next page exists, a signed keyset cursor), the get (one
appointment with both names, visible to its parties only, an ETag), an audit event inserted for
each list and get, as the service records them. The idioms are FastAPI's and SQLModel's:
dependencies (``Depends``), a bearer scheme, an ``AsyncSession`` per request, table models,
``select``, Pydantic response models.

Run by ``benchmarks.peer`` in the benchmark's process (``build``), or on its own:
``python -m benchmarks.peer_app`` with ``BENCH_DATABASE_URL``, ``BENCH_JWT_SECRET`` and
``BENCH_PORT`` set.

With ``BENCH_PEER_EDGE=1`` (``edge=True``) the peer also does what the service does around
every reply, the way a FastAPI application would: a pure ASGI middleware gives each reply a
request id (the client's ``X-Request-ID`` or a new one) and the service's security headers
and ``Cache-Control: no-store``, and uvicorn writes its own access-log line per request. This is
the "same work" reading of the liveness probe; without it the peer answers the bare minimum.

No ``from __future__ import annotations`` here: FastAPI reads the dependencies from the
handlers' annotations, which name types defined inside ``build``.
"""

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import aliased
from sqlalchemy.types import Uuid
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.tokens import TokenService
from benchmarks.bare_app import serve
from domain.credentials import InvalidToken
from domain.paging import Cursors
from service import hardening
from service.verified_tokens import VerifiedTokens


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: uuid.UUID = Field(primary_key=True)
    full_name: str
    role: str
    active: bool
    session_version: int


class UserSession(SQLModel, table=True):
    __tablename__ = "sessions"
    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None = None


class Appointment(SQLModel, table=True):
    __tablename__ = "appointments"
    id: uuid.UUID = Field(primary_key=True)
    patient_id: uuid.UUID
    doctor_id: uuid.UUID
    start_at: datetime
    end_at: datetime
    status: str
    reason: str | None = None
    notes: str | None = None
    cancellation_reason: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    id: int | None = Field(default=None, primary_key=True)
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    action: str
    resource_type: str | None = None
    resource_id: str | None = None
    patient_ids: list[uuid.UUID] = Field(sa_column=Column(ARRAY(Uuid), nullable=False))
    outcome: int
    reason: str | None = None


class AppointmentOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    doctor_id: uuid.UUID
    doctor_name: str
    start_at: datetime
    end_at: datetime
    status: str
    reason: str | None
    notes: str | None
    cancellation_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class Page(BaseModel):
    items: list[AppointmentOut]
    next_cursor: str | None
    limit: int


class Health(BaseModel):
    status: str


class Caller(BaseModel):
    id: uuid.UUID
    role: str


Patient = aliased(User)
Doctor = aliased(User)


def _selected() -> Any:
    return (
        select(Appointment, Patient.full_name, Doctor.full_name)
        .join(Patient, Patient.id == Appointment.patient_id)  # type: ignore[arg-type]
        .join(Doctor, Doctor.id == Appointment.doctor_id)  # type: ignore[arg-type]
        .where(Appointment.deleted_at.is_(None))  # type: ignore[union-attr]
    )


def _out(row: Any) -> AppointmentOut:
    appointment, patient_name, doctor_name = row
    return AppointmentOut(
        **appointment.model_dump(exclude={"deleted_at"}),
        patient_name=patient_name,
        doctor_name=doctor_name,
    )


class SameEdge:
    """Request id, security headers and ``Cache-Control`` on every reply, as the service's
    edge gives them (``service.hardening``), as one pure ASGI middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        request_id = given if given else uuid.uuid4().hex.encode()

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    *EDGE_HEADERS,
                    (b"x-request-id", request_id),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


EDGE_HEADERS = (
    *hardening.COMMON,
    (b"content-security-policy", hardening.API_CSP),
    (b"cache-control", b"no-store"),
)


def build(database_url: str, secret: str, pool_size: int = 10, edge: bool = False) -> FastAPI:
    cursors = Cursors.derived_from(secret)
    tokens = TokenService(
        secret=secret, issuer="medai-backend", audience="medai-api", ttl_seconds=900
    )
    verified = VerifiedTokens(tokens.decode_access)
    engine = create_async_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"options": "-c TimeZone=UTC"},
    )
    bearer = HTTPBearer()

    async def session() -> AsyncIterator[AsyncSession]:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            yield db

    Db = Annotated[AsyncSession, Depends(session)]

    async def caller(
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)], db: Db
    ) -> Caller:
        try:
            claims = verified.claims(credentials.credentials)
        except InvalidToken:
            raise HTTPException(401, "invalid token") from None
        state = (
            await db.exec(
                select(User, UserSession)
                .join(UserSession, UserSession.user_id == User.id)  # type: ignore[arg-type]
                .where(User.id == claims.user_id, UserSession.id == claims.session_id)
            )
        ).first()
        if state is None:
            raise HTTPException(401, "invalid token")
        user, user_session = state
        if (
            not user.active
            or user.session_version != claims.session_version
            or user_session.revoked_at is not None
            or user_session.expires_at <= datetime.now(UTC)
        ):
            raise HTTPException(401, "invalid token")
        return Caller(id=claims.user_id, role=user.role)

    Me = Annotated[Caller, Depends(caller)]

    def audit(
        db: AsyncSession, request: Request, who: Caller, action: str, patients: set[uuid.UUID]
    ) -> None:
        db.add(
            AuditEvent(
                actor_id=who.id,
                actor_role=who.role,
                client_address=request.client.host if request.client else None,
                user_agent=request.headers.get("user-agent"),
                request_id=uuid.uuid4().hex,
                action=action,
                resource_type="appointment",
                patient_ids=sorted(patients),
                outcome=200,
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    if edge:
        app.add_middleware(SameEdge)

    @app.get("/health/live", response_model=Health)
    async def live() -> Health:
        return Health(status="ok")

    @app.get("/appointments", response_model=Page)
    async def list_appointments(request: Request, who: Me, db: Db, limit: int = 20) -> Page:
        limit = min(max(limit, 1), 100)
        query = _selected()
        if who.role == "patient":
            query = query.where(Appointment.patient_id == who.id)
        elif who.role == "doctor":
            query = query.where(Appointment.doctor_id == who.id)
        query = query.order_by(Appointment.start_at, Appointment.id).limit(limit + 1)
        rows = (await db.exec(query)).all()
        items = [_out(row) for row in rows[:limit]]
        audit(db, request, who, "appointment.search", {item.patient_id for item in items})
        await db.commit()
        cursor = None
        if len(rows) > limit and items:
            cursor = cursors.issue("appointments", who.id, items[-1].start_at, items[-1].id)
        return Page(items=items, next_cursor=cursor, limit=limit)

    @app.get("/appointments/{appointment_id}", response_model=AppointmentOut)
    async def get_appointment(
        appointment_id: uuid.UUID, request: Request, response: Response, who: Me, db: Db
    ) -> AppointmentOut:
        row = (await db.exec(_selected().where(Appointment.id == appointment_id))).first()
        visible = row is not None and who.id in (row[0].patient_id, row[0].doctor_id)
        audit(db, request, who, "appointment.read", {row[0].patient_id} if row else set())
        await db.commit()
        if not visible:
            raise HTTPException(404, "No such appointment.")
        item = _out(row)
        response.headers["ETag"] = f'"{item.version}"'
        return item

    return app


def main() -> None:
    edge = os.environ.get("BENCH_PEER_EDGE") == "1"
    app = build(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_JWT_SECRET"], edge=edge)
    serve(app, access_log=edge)


if __name__ == "__main__":
    main()
