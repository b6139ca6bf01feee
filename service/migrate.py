"""Run Alembic migrations, once, even when several instances start together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from persistence.db import libpq_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Any constant works; it only has to be the same for every instance of this service.
MIGRATION_LOCK_KEY = 0x6D65646169  # "medai"
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).removeprefix("postgresql://")


def alembic_config(url: str | None = None) -> Config:
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url is not None:
        config.attributes["database_url"] = sqlalchemy_url(url)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade under a transaction-scoped advisory lock: the first instance migrates, the
    others wait for it and then find nothing to do."""
    _locked(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    _locked(url, lambda config: command.downgrade(config, revision))


def _locked(url: str, migrate: Callable[[Config], None]) -> None:
    """Run ``migrate`` in one transaction that holds the migration lock."""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(_LOCK, {"key": MIGRATION_LOCK_KEY})
            config = alembic_config(url)
            config.attributes["connection"] = connection
            migrate(config)
    finally:
        engine.dispose()
