"""What a running app holds for its whole life: settings, pool, services. Built by the factory,
started in the lifespan, reachable from requests through the ASGI scope."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from adapters.totp import PyOtpAuthenticator
from domain.accounts import Accounts
from domain.auth import AuthService, LoginThrottle
from domain.mfa import MfaPolicy, MfaService
from domain.paging import Cursors
from domain.passwords import PasswordHasher
from domain.tokens import TokenService
from mlclient import MLClient, MLClientConfig
from mlclient.gateway import MLObserver, Predictor
from persistence.db import Database, Timeouts
from service import migrate
from service.settings import Settings
from service.verified_tokens import VerifiedTokens

log = logging.getLogger(__name__)

SCOPE_KEY = "medai.runtime"

REQUEST_SCOPE: ContextVar[Scope] = ContextVar("medai.request_scope")
"""The scope of the request being handled (set by the app's runtime middleware): handlers read
headers, the client address and the runtime from it."""


@dataclass
class Runtime:
    settings: Settings
    database: Database
    tokens: TokenService
    # Access tokens already verified, until they expire (the session check still runs).
    verified_tokens: VerifiedTokens
    auth: AuthService
    mfa: MfaService
    accounts: Accounts
    expected_revision: str
    predictor: Predictor
    # Keyed from the token secret (its own derived key): a new secret ends old cursors too.
    cursors: Cursors

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
            hasher=PasswordHasher(settings.bcrypt_cost),
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
        database = Database(
            database_url,
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
        return cls(
            settings=settings,
            database=database,
            tokens=tokens,
            verified_tokens=VerifiedTokens(tokens.decode_access),
            auth=auth,
            mfa=mfa,
            accounts=accounts,
            expected_revision=migrate.head_revision(),
            predictor=Predictor(
                MLClient(ml_client_config(settings)), settings.ml_specs(), ml_observer
            ),
            cursors=Cursors.derived_from(settings.jwt_secret),
        )

    async def start(self) -> None:
        await self.database.open()
        await self.predictor.client.start()
        await self.auth.hasher.warm_up()

    async def stop(self) -> None:
        try:
            await self.predictor.client.close()
        finally:
            await self.database.close()


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
