"""Which URL migrations take, and whether ``medai serve`` runs them at all."""

from __future__ import annotations

import pytest

from service import cli, migrate
from service.settings import Settings

POOLED = "postgresql://medai@pgbouncer:6432/medai"
DIRECT = "postgresql://medai@postgres:5432/medai"


@pytest.fixture
def upgrades(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    called: list[str] = []
    monkeypatch.setattr(migrate, "upgrade", lambda url, revision="head": called.append(url))
    return called


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"DATABASE_URL": POOLED, "MEDAI_MIGRATION_DATABASE_URL": DIRECT}, DIRECT),
        ({"DATABASE_URL": DIRECT}, DIRECT),
    ],
)
def test_medai_migrate_takes_the_migration_url_when_there_is_one(
    monkeypatch: pytest.MonkeyPatch,
    upgrades: list[str],
    environment: dict[str, str],
    expected: str,
) -> None:
    monkeypatch.delenv("MEDAI_MIGRATION_DATABASE_URL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["migrate"]) == 0
    assert upgrades == [expected]


@pytest.mark.parametrize(("at_start", "expected"), [(True, [DIRECT]), (False, [])])
def test_serve_migrates_first_unless_told_a_job_does(
    monkeypatch: pytest.MonkeyPatch, upgrades: list[str], at_start: bool, expected: list[str]
) -> None:
    served: list[Settings] = []
    monkeypatch.setattr(cli, "_run_uvicorn", served.append)
    settings = Settings(
        database_url=POOLED,
        migration_database_url=DIRECT,
        migrate_at_start=at_start,
        jwt_secret="migration-url-test-" + "m" * 40,
        ml_service_url="http://127.0.0.1:9",
    )
    cli._serve(settings)
    assert upgrades == expected
    assert len(served) == 1
