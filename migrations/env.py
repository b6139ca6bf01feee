"""Alembic environment.

The URL comes from the caller (``service.migrate``), or ``DATABASE_URL``, or, for a developer
running ``uv run alembic …`` with nothing configured, the embedded database in ``var/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from persistence.schema import metadata

config = context.config


def _url() -> str:
    from service.migrate import sqlalchemy_url

    if "database_url" in config.attributes:
        return str(config.attributes["database_url"])
    if os.environ.get("DATABASE_URL"):
        return sqlalchemy_url(os.environ["DATABASE_URL"])
    from service import embedded_db

    data_dir = Path(os.environ.get("MEDAI_DATA_DIR", "var"))
    return embedded_db.start(data_dir).url()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
