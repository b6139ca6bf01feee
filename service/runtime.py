"""What a running app holds for its whole life: settings, pool, services. Built by the factory,
started in the lifespan, reachable from requests through the ASGI scope."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from adapters.ml import MLPredictor
from adapters.passwords import PasswordHasher
from adapters.tokens import TokenService
from adapters.totp import PyOtpAuthenticator
from adapters.webhooks import SystemResolver
from domain.accounts import Accounts
from domain.audit import RequestContext
from domain.auth import AuthService, LoginThrottle
from domain.errors import DatabaseUnavailable, ServiceUnavailable, database_unreachable
from domain.mfa import MfaPolicy, MfaService
from domain.paging import Cursors
from domain.webhooks import Resolver, UrlPolicy
from handlers.context import REQUEST_SCOPE as REQUEST_SCOPE
from handlers.context import SERVICES_KEY, Services
from mlclient import MLClient, MLClientConfig
from mlclient.gateway import MLObserver, Predictor
from persistence.db import Database, RequestTransactions, Timeouts
from persistence.outbox import OutboxStore
from persistence.replica import ReadReplica
from service import migrate, read_your_writes
from service.settings import Settings
from service.verified_tokens import VerifiedTokens

log = logging.getLogger(__name__)

SCOPE_KEY = SERVICES_KEY
"""Where a request's scope holds the runtime (the handlers' ``Services``)."""


@dataclass
class Runtime:
    settings: Settings
    database: Database
    # The adapters behind the domain's credential ports (domain.credentials).
    hasher: PasswordHasher
    tokens: TokenService
    # Access tokens already verified, until they expire (the session check still runs).
    verified_tokens: VerifiedTokens
    auth: AuthService
    mfa: MfaService
    accounts: Accounts
    expected_revision: str
    # The ML client's gateway behind the domain's Predictor port.
    predictor: MLPredictor
    # Keyed from the token secret (its own derived key): a new secret ends old cursors too.
    cursors: Cursors
    # Checks webhook URLs when admins register them (domain/webhooks.py).
    webhook_resolver: Resolver = field(default_factory=SystemResolver)
    # Serves lists and searches when MEDAI_DATABASE_REPLICA_URL is set (docs/operations.md).
    replica: ReadReplica | None = None

    @property
    def outbox(self) -> OutboxStore:
        return OutboxStore(self.database)

    @property
    def webhook_policy(self) -> UrlPolicy:
        return UrlPolicy(
            https_only=self.settings.production,
            allow_private=self.settings.webhook_allow_private,
        )

    @classmethod
    def build(
        cls, settings: Settings, database_url: str, *, ml_observer: MLObserver | None = None
    ) -> Runtime:
        tokens = TokenService(
            secret=settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl,
        )
        hasher = PasswordHasher(settings.bcrypt_cost)
        throttle = LoginThrottle(
            per_account=settings.login_max_failures_per_account,
            per_pair=settings.login_max_failures_per_pair,
            per_address=settings.login_max_failures_per_address,
            window_seconds=settings.login_throttle_window,
            first_delay=settings.login_first_delay,
            sign_ups_per_address=settings.sign_ups_per_address,
        )
        mfa = MfaService(
            totp=PyOtpAuthenticator(settings.mfa_issuer),
            challenges=tokens,
            throttle=throttle,
            policy=MfaPolicy(settings.mfa_policy),
        )
        auth = AuthService(
            hasher=hasher,
            tokens=tokens,
            refresh_ttl=settings.refresh_token_ttl,
            refresh_idle_ttl=settings.refresh_idle_ttl,
            throttle=throttle,
            min_password_length=settings.password_min_length,
            mfa=mfa,
        )
        auth.accounts = accounts = Accounts(
            passwords=auth,
            app_url=settings.app_url,
            window_seconds=settings.login_throttle_window,
            resets_per_account=settings.password_resets_per_account,
            resets_per_address=settings.password_resets_per_address,
        )
        database = _database(settings, database_url)
        replica = None
        if settings.database_replica_url:
            replica = ReadReplica(
                database,
                _database(settings, settings.database_replica_url),
                max_lag=settings.replica_max_lag,
            )
        return cls(
            settings=settings,
            database=database,
            hasher=hasher,
            tokens=tokens,
            verified_tokens=VerifiedTokens(tokens.decode_access),
            auth=auth,
            mfa=mfa,
            accounts=accounts,
            expected_revision=migrate.head_revision(),
            predictor=MLPredictor(
                Predictor(MLClient(ml_client_config(settings)), settings.ml_specs(), ml_observer)
            ),
            cursors=Cursors.derived_from(settings.jwt_secret),
            replica=replica,
        )

    @property
    def inference_rate_per_minute(self) -> int:
        return self.settings.inference_rate_per_minute

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        return self.settings.cors_origins

    def transactions(self, context: RequestContext) -> RequestTransactions:
        return RequestTransactions(
            self.database,
            context,
            replica=self.replica,
            primary_only=self.replica is not None
            and read_your_writes.primary_only(REQUEST_SCOPE.get(None)),
        )

    async def readiness(self) -> dict[str, str]:
        """Ready when the database answers and its schema is the one this build expects."""
        try:
            revision = await self.database.schema_revision()
        except DatabaseUnavailable:
            raise database_unreachable() from None
        if revision != self.expected_revision:
            raise ServiceUnavailable(
                f"The database schema is at {revision}, "
                f"this build expects {self.expected_revision}.",
                retry_after=5,
            )
        checks = {"database": "ok", "schema": revision, "outbox": await self._outbox_check()}
        if self.replica is not None:
            # Reported, not a 503: lists fall back to the primary, so this instance serves.
            checks["replica"] = self.replica.state().detail
        return checks

    async def _outbox_check(self) -> str:
        """``ok``, or how long a due message has waited when that is past the limit: no
        dispatcher is delivering (reported, not a 503: this instance can still serve)."""
        try:
            overdue = await self.outbox.overdue()
        except DatabaseUnavailable:
            return "unknown: the database did not answer"
        if overdue > self.settings.outbox_stuck_after:
            return f"stuck: a message due for delivery has waited {overdue:.0f} s"
        return "ok"

    async def ml_health(self, request_id: str | None) -> dict[str, Any]:
        return await self.predictor.health(request_id)

    async def start(self) -> None:
        await self.database.open()
        if self.replica is not None:
            # Sampled a few times per bound, so a caught-up replica stays within it.
            await self.replica.open(interval=min(1.0, self.settings.replica_max_lag / 4))
        await self.predictor.gateway.client.start()
        await self.hasher.warm_up()

    async def stop(self) -> None:
        try:
            await self.predictor.gateway.client.close()
        finally:
            if self.replica is not None:
                await self.replica.close()
            await self.database.close()


def _database(settings: Settings, url: str) -> Database:
    return Database(
        url,
        pool_size=settings.db_pool_size,
        connect_timeout=settings.db_connect_timeout,
        timeouts=Timeouts(
            operation=settings.db_operation_timeout,
            statement=settings.db_statement_timeout,
            lock=settings.db_lock_timeout,
            idle_in_transaction=settings.db_idle_in_transaction_timeout,
            keepalive_idle=settings.db_keepalive_idle,
        ),
        transaction_pooler=settings.database_pooler == "transaction",
    )


def ml_client_config(settings: Settings) -> MLClientConfig:
    """MEDAI_ML_TIMEOUT bounds a whole call, the one retry included; connecting and the
    readiness probe get less, so that a dead ML service is noticed in about a second."""
    timeout = settings.ml_timeout
    return MLClientConfig(
        base_url=settings.ml_service_url,
        # The allow-list of names the client may put in a URL: the models' names on the server.
        models=frozenset(spec.server_name for spec in settings.ml_specs().values()),
        connect_timeout=min(1.0, timeout),
        read_timeout=timeout,
        write_timeout=timeout,
        deadline_seconds=timeout,
        ready_deadline_seconds=min(1.0, timeout),
        max_concurrent_calls=settings.ml_max_concurrent,
        breaker_failure_threshold=settings.ml_breaker_failures,
        breaker_reset_seconds=settings.ml_breaker_reset,
    )


def from_scope(scope: Any) -> Runtime:
    runtime: Runtime = scope[SCOPE_KEY]
    return runtime


def _provides_services(runtime: Runtime) -> Services:
    """Never called: mypy checks here that the runtime is what handlers expect."""
    return runtime
