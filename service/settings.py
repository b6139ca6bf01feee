"""Configuration from environment variables, validated once at start.

Every setting has one environment variable; the README's configuration table lists them all
(a test keeps the two in step). A bad value stops the service with a message naming the
variable, rather than surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Literal, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adapters.mail import SmtpConfig
from mlclient.config import allowed_models, checked_base_url
from mlclient.models import ModelSpec, load_models

T = TypeVar("T")

# Secrets shorter than this make HS256 brute-forceable (RFC 8725 §3.5 asks for key entropy
# at least the hash size: 256 bits).
MIN_SECRET_BYTES = 32
# How ``medai serve`` hands what it started (the embedded database, the reference model server)
# down to uvicorn's workers; not settings an operator sets (docs/operations.md).
EMBEDDED_URL_VARIABLE = "MEDAI_EMBEDDED_DATABASE_URL"
EMBEDDED_ML_URL_VARIABLE = "MEDAI_EMBEDDED_ML_URL"
# The models of the reference model server, as the backend calls them: the default when
# MEDAI_ML_MODELS_FILE is unset.
DEFAULT_ML_MODELS_FILE = Path(__file__).resolve().parent.parent / "modelserver" / "models.toml"
# Admission control's bound per worker when MEDAI_ENV=production sets none (development: off).
PRODUCTION_MAX_IN_FLIGHT = 4
KNOWN_DEFAULT_SECRETS = frozenset({"secret", "changeme", "change-me", "changethis", "dev", "test"})


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    environment: Literal["development", "production"] = "development"
    database_url: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    jwt_secret: str = ""
    jwt_issuer: str = "medai-backend"
    jwt_audience: str = "medai-api"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    refresh_idle_ttl: int = 7 * 24 * 3600
    bcrypt_cost: int = 12
    db_pool_size: int = 10
    db_connect_timeout: float = 2.0
    db_operation_timeout: float = 4.0
    db_statement_timeout: float = 3.0
    db_lock_timeout: float = 2.0
    db_idle_in_transaction_timeout: float = 15.0
    db_keepalive_idle: int = 10
    validate_responses: bool = False
    swagger_ui: bool = True
    ml_service_url: str | None = None
    # Empty: every model of the models file.
    ml_models: tuple[str, ...] = ()
    ml_models_file: Path = DEFAULT_ML_MODELS_FILE
    ml_timeout: float = 10.0
    ml_breaker_failures: int = 5
    ml_breaker_reset: float = 30.0
    ml_max_concurrent: int = 8
    inference_rate_per_minute: int = 30
    # Requests a minute one client address may send one worker (0: no quota; service/ratelimit).
    rate_limit: int = 0
    initial_admin_email: str | None = None
    initial_admin_password: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    log_level: str = "info"
    password_min_length: int = 8
    login_max_failures_per_account: int = 10
    login_max_failures_per_pair: int = 5
    login_max_failures_per_address: int = 100
    login_throttle_window: int = 900
    login_first_delay: int = 30
    sign_ups_per_address: int = 20
    max_body_bytes: int = 64 * 1024
    metrics: bool = True
    shutdown_timeout: int = 20
    # Scale-out (docs/operations.md: "PgBouncer and the connection math", "Overload").
    migration_database_url: str | None = None
    migrate_at_start: bool = True
    database_pooler: Literal["none", "transaction"] = "none"
    # Read replica (docs/operations.md: "Read replica").
    database_replica_url: str | None = field(default=None, repr=False)
    replica_max_lag: float = 1.0
    max_in_flight: int = 0
    # Outbox and mail (docs/outbox.md).
    smtp_url: str | None = field(default=None, repr=False)
    mail_from: str = "MedAI <no-reply@medai.invalid>"
    smtp_timeout: float = 30.0
    outbox_dispatch: bool = True
    outbox_poll_interval: float = 1.0
    outbox_batch: int = 20
    outbox_retry_base: float = 10.0
    outbox_retry_cap: float = 3600.0
    outbox_max_age: float = 3 * 24 * 3600.0
    outbox_stuck_after: float = 300.0
    outbox_lease: float = 120.0
    # Notifications and webhooks (docs/notifications.md).
    notify_timezone: str = "UTC"
    reminder_lead: float = 24 * 3600.0
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    webhook_disable_after: int = 20
    # Multi-factor authentication (README, Decisions: "TOTP MFA").
    mfa_policy: Literal["required", "optional"] = "required"
    mfa_issuer: str = "MedAI"
    # The web app's address, for links in account mails (README, Decisions: "Accounts").
    app_url: str | None = None
    password_resets_per_account: int = 3
    password_resets_per_address: int = 20

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (the process environment by default)."""
        source = os.environ if env is None else env
        reader = _Reader(source)
        d = cls()  # the defaults, declared once: the fields above
        environment = reader.choice("MEDAI_ENV", ("development", "production"), d.environment)
        data_dir = Path(reader.text("MEDAI_DATA_DIR", str(d.data_dir)))
        settings = cls(
            environment=environment,  # type: ignore[arg-type]
            database_url=reader.optional("DATABASE_URL"),
            data_dir=data_dir,
            host=reader.text("MEDAI_HOST", d.host),
            port=reader.integer("MEDAI_PORT", d.port, 1, 65535),
            workers=reader.integer("MEDAI_WORKERS", d.workers, 1, 64),
            jwt_secret=reader.text("MEDAI_JWT_SECRET", d.jwt_secret),
            jwt_issuer=reader.text("MEDAI_JWT_ISSUER", d.jwt_issuer),
            jwt_audience=reader.text("MEDAI_JWT_AUDIENCE", d.jwt_audience),
            access_token_ttl=reader.integer("MEDAI_ACCESS_TOKEN_TTL", d.access_token_ttl, 30, 900),
            refresh_token_ttl=reader.integer(
                "MEDAI_REFRESH_TOKEN_TTL", d.refresh_token_ttl, 60, 365 * 24 * 3600
            ),
            refresh_idle_ttl=reader.integer(
                "MEDAI_REFRESH_IDLE_TTL", d.refresh_idle_ttl, 60, 365 * 24 * 3600
            ),
            bcrypt_cost=reader.integer("MEDAI_BCRYPT_COST", d.bcrypt_cost, 4, 16),
            db_pool_size=reader.integer("MEDAI_DB_POOL_SIZE", d.db_pool_size, 1, 200),
            db_connect_timeout=reader.number(
                "MEDAI_DB_CONNECT_TIMEOUT", d.db_connect_timeout, 0.1, 60.0
            ),
            db_operation_timeout=reader.number(
                "MEDAI_DB_OPERATION_TIMEOUT", d.db_operation_timeout, 0.1, 600.0
            ),
            db_statement_timeout=reader.number(
                "MEDAI_DB_STATEMENT_TIMEOUT", d.db_statement_timeout, 0.0, 600.0
            ),
            db_lock_timeout=reader.number("MEDAI_DB_LOCK_TIMEOUT", d.db_lock_timeout, 0.0, 600.0),
            db_idle_in_transaction_timeout=reader.number(
                "MEDAI_DB_IDLE_IN_TRANSACTION_TIMEOUT",
                d.db_idle_in_transaction_timeout,
                0.0,
                3600.0,
            ),
            db_keepalive_idle=reader.integer(
                "MEDAI_DB_KEEPALIVE_IDLE", d.db_keepalive_idle, 1, 7200
            ),
            validate_responses=reader.flag("MEDAI_VALIDATE_RESPONSES", d.validate_responses),
            swagger_ui=reader.flag("MEDAI_SWAGGER_UI", environment != "production"),
            ml_service_url=reader.optional("MEDAI_ML_URL"),
            ml_models=reader.words("MEDAI_ML_MODELS", d.ml_models),
            ml_models_file=Path(reader.optional("MEDAI_ML_MODELS_FILE") or d.ml_models_file),
            ml_timeout=reader.number("MEDAI_ML_TIMEOUT", d.ml_timeout, 0.1, 300.0),
            ml_breaker_failures=reader.integer(
                "MEDAI_ML_BREAKER_FAILURES", d.ml_breaker_failures, 1, 1000
            ),
            ml_breaker_reset=reader.number(
                "MEDAI_ML_BREAKER_RESET", d.ml_breaker_reset, 0.1, 3600.0
            ),
            ml_max_concurrent=reader.integer(
                "MEDAI_ML_MAX_CONCURRENT", d.ml_max_concurrent, 1, 1000
            ),
            inference_rate_per_minute=reader.integer(
                "MEDAI_INFERENCE_RATE_PER_MINUTE", d.inference_rate_per_minute, 1, 100000
            ),
            rate_limit=reader.integer("MEDAI_RATE_LIMIT", d.rate_limit, 0, 1_000_000),
            initial_admin_email=reader.optional("MEDAI_ADMIN_EMAIL"),
            initial_admin_password=reader.optional("MEDAI_ADMIN_PASSWORD"),
            cors_origins=reader.words("MEDAI_CORS_ORIGINS", d.cors_origins),
            log_level=reader.choice(
                "MEDAI_LOG_LEVEL", ("debug", "info", "warning", "error"), d.log_level
            ),
            password_min_length=reader.integer(
                "MEDAI_PASSWORD_MIN_LENGTH", d.password_min_length, 8, 64
            ),
            login_max_failures_per_account=reader.integer(
                "MEDAI_LOGIN_MAX_FAILURES_PER_ACCOUNT", d.login_max_failures_per_account, 1, 1000
            ),
            login_max_failures_per_pair=reader.integer(
                "MEDAI_LOGIN_MAX_FAILURES_PER_PAIR", d.login_max_failures_per_pair, 1, 1000
            ),
            login_max_failures_per_address=reader.integer(
                "MEDAI_LOGIN_MAX_FAILURES_PER_ADDRESS", d.login_max_failures_per_address, 1, 100000
            ),
            login_throttle_window=reader.integer(
                "MEDAI_LOGIN_THROTTLE_WINDOW", d.login_throttle_window, 1, 86400
            ),
            login_first_delay=reader.integer(
                "MEDAI_LOGIN_FIRST_DELAY", d.login_first_delay, 1, 86400
            ),
            sign_ups_per_address=reader.integer(
                "MEDAI_SIGN_UPS_PER_ADDRESS", d.sign_ups_per_address, 1, 100000
            ),
            max_body_bytes=reader.integer(
                "MEDAI_MAX_BODY_BYTES", d.max_body_bytes, 1024, 16 * 1024**2
            ),
            metrics=reader.flag("MEDAI_METRICS", d.metrics),
            shutdown_timeout=reader.integer("MEDAI_SHUTDOWN_TIMEOUT", d.shutdown_timeout, 0, 600),
            migration_database_url=reader.optional("MEDAI_MIGRATION_DATABASE_URL"),
            migrate_at_start=reader.flag("MEDAI_MIGRATE_AT_START", d.migrate_at_start),
            database_pooler=reader.choice(  # type: ignore[arg-type]
                "MEDAI_DATABASE_POOLER", ("none", "transaction"), d.database_pooler
            ),
            database_replica_url=reader.optional("MEDAI_DATABASE_REPLICA_URL"),
            replica_max_lag=reader.number("MEDAI_REPLICA_MAX_LAG", d.replica_max_lag, 0.1, 60.0),
            # On in production: a worker without a bound collapses past its capacity
            # (docs/operations.md, Overload, for the value).
            max_in_flight=reader.integer(
                "MEDAI_MAX_IN_FLIGHT",
                PRODUCTION_MAX_IN_FLIGHT if environment == "production" else d.max_in_flight,
                0,
                100000,
            ),
            smtp_url=reader.optional("MEDAI_SMTP_URL"),
            mail_from=reader.text("MEDAI_MAIL_FROM", d.mail_from),
            smtp_timeout=reader.number("MEDAI_SMTP_TIMEOUT", d.smtp_timeout, 1.0, 300.0),
            outbox_dispatch=reader.flag("MEDAI_OUTBOX_DISPATCH", d.outbox_dispatch),
            outbox_poll_interval=reader.number(
                "MEDAI_OUTBOX_POLL_INTERVAL", d.outbox_poll_interval, 0.05, 60.0
            ),
            outbox_batch=reader.integer("MEDAI_OUTBOX_BATCH", d.outbox_batch, 1, 1000),
            outbox_retry_base=reader.number(
                "MEDAI_OUTBOX_RETRY_BASE", d.outbox_retry_base, 0.01, 3600.0
            ),
            outbox_retry_cap=reader.number(
                "MEDAI_OUTBOX_RETRY_CAP", d.outbox_retry_cap, 0.01, 86400.0
            ),
            outbox_max_age=reader.number(
                "MEDAI_OUTBOX_MAX_AGE", d.outbox_max_age, 1.0, 30 * 24 * 3600.0
            ),
            outbox_lease=reader.number("MEDAI_OUTBOX_LEASE", d.outbox_lease, 1.0, 3600.0),
            outbox_stuck_after=reader.number(
                "MEDAI_OUTBOX_STUCK_AFTER", d.outbox_stuck_after, 1.0, 86400.0
            ),
            notify_timezone=reader.text("MEDAI_NOTIFY_TIMEZONE", d.notify_timezone),
            reminder_lead=reader.number(
                "MEDAI_REMINDER_LEAD", d.reminder_lead, 60.0, 30 * 24 * 3600.0
            ),
            webhook_allow_private=reader.flag(
                "MEDAI_WEBHOOK_ALLOW_PRIVATE", d.webhook_allow_private
            ),
            webhook_timeout=reader.number("MEDAI_WEBHOOK_TIMEOUT", d.webhook_timeout, 0.5, 60.0),
            webhook_disable_after=reader.integer(
                "MEDAI_WEBHOOK_DISABLE_AFTER", d.webhook_disable_after, 1, 10000
            ),
            mfa_policy=reader.choice(  # type: ignore[arg-type]
                "MEDAI_MFA_POLICY", ("required", "optional"), d.mfa_policy
            ),
            mfa_issuer=reader.text("MEDAI_MFA_ISSUER", d.mfa_issuer),
            app_url=reader.optional("MEDAI_APP_URL"),
            password_resets_per_account=reader.integer(
                "MEDAI_PASSWORD_RESETS_PER_ACCOUNT", d.password_resets_per_account, 1, 1000
            ),
            password_resets_per_address=reader.integer(
                "MEDAI_PASSWORD_RESETS_PER_ADDRESS", d.password_resets_per_address, 1, 100000
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that are unsafe or cannot work."""
        if self.production:
            if self.database_url is None:
                raise ConfigError(
                    "DATABASE_URL is required when MEDAI_ENV=production "
                    "(the embedded database is for development only)"
                )
            _check_secret(self.jwt_secret)
        elif self.jwt_secret:
            _check_secret(self.jwt_secret)
        if self.refresh_idle_ttl > self.refresh_token_ttl:
            raise ConfigError("MEDAI_REFRESH_IDLE_TTL must not exceed MEDAI_REFRESH_TOKEN_TTL")
        if self.db_statement_timeout >= self.db_operation_timeout:
            # The server should stop a slow statement (the connection stays usable) before
            # the client gives up on it (the connection is thrown away).
            raise ConfigError(
                "MEDAI_DB_STATEMENT_TIMEOUT must be less than MEDAI_DB_OPERATION_TIMEOUT "
                "(or 0 to leave statements unbounded on the server)"
            )
        if self.initial_admin_email and not self.initial_admin_password:
            raise ConfigError("MEDAI_ADMIN_PASSWORD is required when MEDAI_ADMIN_EMAIL is set")
        _check_ml(self.ml_service_url, self.ml_models)
        _check_mail(self.smtp_url, self.mail_from)
        if self.outbox_lease <= max(self.smtp_timeout, self.webhook_timeout):
            # A delivery still running when its lease ends would be sent twice on purpose.
            raise ConfigError(
                "MEDAI_OUTBOX_LEASE must exceed MEDAI_SMTP_TIMEOUT and MEDAI_WEBHOOK_TIMEOUT"
            )
        try:
            ZoneInfo(self.notify_timezone)
        except (ValueError, ZoneInfoNotFoundError):
            raise ConfigError(
                f"MEDAI_NOTIFY_TIMEZONE must be an IANA time zone like Europe/Berlin, "
                f"got {self.notify_timezone!r}"
            ) from None
        self.ml_specs()
        for origin in self.cors_origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise ConfigError(
                    f"MEDAI_CORS_ORIGINS must list exact origins like https://app.example, "
                    f"got {origin!r}"
                )

    def ml_specs(self) -> dict[str, ModelSpec]:
        """The models offered and how each is called: the models file's entries, those named
        by MEDAI_ML_MODELS when it is set; a mistake stops the start naming model and field."""
        try:
            specs = load_models(self.ml_models_file)
        except ValueError as exc:
            raise ConfigError(f"MEDAI_ML_MODELS_FILE ({self.ml_models_file}): {exc}") from None
        missing = [name for name in self.ml_models if name not in specs]
        if missing:
            raise ConfigError(
                f"MEDAI_ML_MODELS: model {missing[0]!r} is not in {self.ml_models_file}"
            )
        return {name: spec for name, spec in specs.items() if name in (self.ml_models or specs)}

    def with_secret(self) -> Settings:
        """Development convenience: a random secret kept in the data folder across restarts."""
        if self.jwt_secret:
            return self
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return dataclasses.replace(self, jwt_secret=path.read_text().strip())


def _check_ml(url: str | None, models: tuple[str, ...]) -> None:
    # The ML client's own checks, run here so that a bad value names its variable.
    try:
        if url is not None:
            checked_base_url(url)
    except ValueError as exc:
        raise ConfigError(f"MEDAI_ML_URL: {exc}") from None
    try:
        allowed_models(models)
    except ValueError as exc:
        raise ConfigError(f"MEDAI_ML_MODELS: {exc}") from None


def _check_mail(smtp_url: str | None, mail_from: str) -> None:
    if smtp_url is not None:
        try:
            SmtpConfig.from_url(smtp_url)
        except ValueError as exc:
            # Never the URL itself: it may carry the SMTP password.
            raise ConfigError(f"MEDAI_SMTP_URL {exc}") from None
    if "@" not in parseaddr(mail_from)[1]:
        raise ConfigError(
            f"MEDAI_MAIL_FROM must be an address like 'MedAI <no-reply@clinic.example>', "
            f"got {mail_from!r}"
        )


def _check_secret(secret: str) -> None:
    if secret.lower() in KNOWN_DEFAULT_SECRETS or len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"MEDAI_JWT_SECRET must be a random value of at least {MIN_SECRET_BYTES} bytes "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def _parse(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {expected}, got {raw!r}") from None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(raw: str) -> int:
            value = int(raw)
            if not low <= value <= high:
                raise ValueError
            return value

        return self._parse(name, default, parse, f"an integer from {low} to {high}")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        def parse(raw: str) -> float:
            value = float(raw)
            if not low <= value <= high:
                raise ValueError
            return value

        return self._parse(name, default, parse, f"a number from {low} to {high}")

    def flag(self, name: str, default: bool) -> bool:
        truth = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}

        def parse(raw: str) -> bool:
            return truth[raw.lower()] if raw.lower() in truth else _fail()

        return self._parse(name, default, parse, "one of 1/0/true/false/yes/no")

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        def parse(raw: str) -> str:
            return raw if raw in allowed else _fail()

        return self._parse(name, default, parse, "one of " + ", ".join(allowed))

    def words(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return default
        return tuple(word.strip() for word in raw.split(",") if word.strip())


def _fail() -> NoReturn:
    raise ValueError
