"""How the ML service is configured: the variables, what they refuse, and the client they make."""

from __future__ import annotations

import pytest

from service.runtime import ml_client_config
from service.settings import ConfigError, Settings

PRODUCTION = {
    "MEDAI_ENV": "production",
    "DATABASE_URL": "postgresql://db/medai",
    "MEDAI_JWT_SECRET": "k" * 48,
}


def test_the_ml_settings_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "MEDAI_ML_URL": "http://modelserver:8081",
            "MEDAI_ML_TIMEOUT": "4",
            "MEDAI_ML_MAX_CONCURRENT": "3",
            "MEDAI_ML_BREAKER_FAILURES": "7",
            "MEDAI_ML_BREAKER_RESET": "12.5",
            "MEDAI_INFERENCE_RATE_PER_MINUTE": "90",
        }
    )
    config = ml_client_config(settings)
    assert config.base_url == "http://modelserver:8081"
    assert config.models == frozenset({"breast-cancer"})
    assert (config.deadline_seconds, config.read_timeout) == (4.0, 4.0)
    # The readiness probe behind GET /inference/health never waits the whole deadline.
    assert config.ready_deadline_seconds == 1.0
    assert config.max_concurrent_calls == 3
    assert (config.breaker_failure_threshold, config.breaker_reset_seconds) == (7, 12.5)
    assert settings.inference_rate_per_minute == 90


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEDAI_ML_URL", "file:///etc/passwd"),
        ("MEDAI_ML_URL", "http://user:secret@modelserver"),
        ("MEDAI_ML_MODELS", "breast-cancer,../admin"),
        ("MEDAI_ML_MODELS", "a/b"),
        ("MEDAI_ML_TIMEOUT", "0"),
        ("MEDAI_ML_BREAKER_FAILURES", "0"),
        ("MEDAI_INFERENCE_RATE_PER_MINUTE", "none"),
    ],
)
def test_a_bad_ml_setting_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: value})


def test_production_may_run_without_an_ml_service() -> None:
    """Predictions then answer 503 (not configured); everything else works."""
    settings = Settings.from_env(PRODUCTION)
    assert settings.ml_service_url is None
    assert ml_client_config(settings).base_url is None
