"""Configuration comes from environment variables, is checked once, and names what is wrong."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from service.settings import PRODUCTION_MAX_IN_FLIGHT, ConfigError, Settings

STRONG_SECRET = "k" * 48


def test_an_empty_environment_gives_the_development_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "development"
    assert settings.database_url is None
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.access_token_ttl == 900
    assert settings.bcrypt_cost == 12
    assert settings.swagger_ui


def test_every_value_is_read_from_its_variable() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/medai",
            "MEDAI_PORT": "24680",
            "MEDAI_ACCESS_TOKEN_TTL": "300",
            "MEDAI_BCRYPT_COST": "13",
            "MEDAI_VALIDATE_RESPONSES": "yes",
            "MEDAI_ML_MODELS": "breast-cancer, ,",
            "MEDAI_DB_CONNECT_TIMEOUT": "0.5",
        }
    )
    assert settings.database_url == "postgresql://db/medai"
    assert (settings.port, settings.access_token_ttl, settings.bcrypt_cost) == (24680, 300, 13)
    assert settings.validate_responses
    assert settings.ml_models == ("breast-cancer",)
    assert settings.db_connect_timeout == 0.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEDAI_PORT", "eighty"),
        ("MEDAI_PORT", "70000"),
        ("MEDAI_ACCESS_TOKEN_TTL", "901"),
        ("MEDAI_BCRYPT_COST", "3"),
        ("MEDAI_VALIDATE_RESPONSES", "maybe"),
        ("MEDAI_ENV", "staging"),
        ("MEDAI_LOG_LEVEL", "verbose"),
        ("MEDAI_DB_CONNECT_TIMEOUT", "-1"),
        ("MEDAI_ML_URL", "ftp://models.example"),
        ("MEDAI_ML_URL", "http://user:secret@models.example"),
        ("MEDAI_ML_MODELS", "breast-cancer ../admin"),
    ],
)
def test_a_malformed_or_out_of_range_value_is_refused_naming_its_variable(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_access_tokens_never_live_longer_than_fifteen_minutes() -> None:
    assert Settings.from_env({"MEDAI_ACCESS_TOKEN_TTL": "900"}).access_token_ttl == 900
    with pytest.raises(ConfigError, match="MEDAI_ACCESS_TOKEN_TTL"):
        Settings.from_env({"MEDAI_ACCESS_TOKEN_TTL": "3600"})


def test_production_needs_its_own_database() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({"MEDAI_ENV": "production", "MEDAI_JWT_SECRET": STRONG_SECRET})


@pytest.mark.parametrize("secret", ["", "changeme", "short-but-random-1234"])
def test_production_needs_a_strong_jwt_secret(secret: str) -> None:
    env = {"MEDAI_ENV": "production", "DATABASE_URL": "postgresql://db/medai"}
    with pytest.raises(ConfigError, match="MEDAI_JWT_SECRET"):
        Settings.from_env({**env, "MEDAI_JWT_SECRET": secret})


def test_a_weak_secret_is_refused_in_development_too_when_one_is_given() -> None:
    with pytest.raises(ConfigError, match="MEDAI_JWT_SECRET"):
        Settings.from_env({"MEDAI_JWT_SECRET": "secret"})


def test_production_with_a_database_and_a_strong_secret_starts_without_the_docs() -> None:
    settings = Settings.from_env(
        {
            "MEDAI_ENV": "production",
            "DATABASE_URL": "postgresql://db/medai",
            "MEDAI_JWT_SECRET": STRONG_SECRET,
        }
    )
    assert settings.production
    assert not settings.swagger_ui
    # Admission control is on unless switched off (``MEDAI_MAX_IN_FLIGHT=0``).
    assert settings.max_in_flight == PRODUCTION_MAX_IN_FLIGHT > 0


def test_admission_control_is_off_in_development_and_settable_in_production() -> None:
    assert Settings.from_env({}).max_in_flight == 0
    production = {
        "MEDAI_ENV": "production",
        "DATABASE_URL": "postgresql://db/medai",
        "MEDAI_JWT_SECRET": STRONG_SECRET,
    }
    assert Settings.from_env({**production, "MEDAI_MAX_IN_FLIGHT": "0"}).max_in_flight == 0
    assert Settings.from_env({**production, "MEDAI_MAX_IN_FLIGHT": "32"}).max_in_flight == 32


def test_a_refresh_token_cannot_idle_longer_than_it_lives() -> None:
    with pytest.raises(ConfigError, match="MEDAI_REFRESH_IDLE_TTL"):
        Settings.from_env({"MEDAI_REFRESH_TOKEN_TTL": "3600", "MEDAI_REFRESH_IDLE_TTL": "7200"})


def test_an_admin_email_needs_a_password() -> None:
    with pytest.raises(ConfigError, match="MEDAI_ADMIN_PASSWORD"):
        Settings.from_env({"MEDAI_ADMIN_EMAIL": "admin@example.org"})


def test_the_development_secret_is_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    settings = Settings.from_env({"MEDAI_DATA_DIR": str(tmp_path / "data")})
    first = settings.with_secret()
    secret_file = tmp_path / "data" / "jwt-secret"
    assert len(first.jwt_secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert settings.with_secret().jwt_secret == first.jwt_secret


def test_a_configured_secret_is_used_as_given(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"MEDAI_DATA_DIR": str(tmp_path), "MEDAI_JWT_SECRET": STRONG_SECRET}
    ).with_secret()
    assert settings.jwt_secret == STRONG_SECRET
    assert not (tmp_path / "jwt-secret").exists()


def test_the_process_environment_is_read_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDAI_PORT", "23456")
    assert Settings.from_env().port == 23456
