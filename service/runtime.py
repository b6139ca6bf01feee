"""What a running app holds for its whole life: settings, pool, services. Built by the factory,
started in the lifespan, reachable from requests through the ASGI scope."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from domain.auth import AuthService, LoginThrottle
from domain.passwords import PasswordHasher
from domain.tokens import TokenService
from persistence.db import Database
from service import migrate
from service.settings import Settings

log = logging.getLogger(__name__)

SCOPE_KEY = "medai.runtime"


@dataclass
class Runtime:
    settings: Settings
    database: Database
    tokens: TokenService
    auth: AuthService
    expected_revision: str

    @classmethod
    def build(cls, settings: Settings, database_url: str) -> Runtime:
        tokens = TokenService(
            secret=settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.access_token_ttl,
        )
        auth = AuthService(
            hasher=PasswordHasher(settings.bcrypt_cost),
            tokens=tokens,
            refresh_ttl=settings.refresh_token_ttl,
            refresh_idle_ttl=settings.refresh_idle_ttl,
            throttle=LoginThrottle(
                per_account=settings.login_max_failures_per_account,
                per_address=settings.login_max_failures_per_address,
                window_seconds=settings.login_throttle_window,
            ),
            min_password_length=settings.password_min_length,
        )
        database = Database(
            database_url,
            pool_size=settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout,
        )
        return cls(
            settings=settings,
            database=database,
            tokens=tokens,
            auth=auth,
            expected_revision=migrate.head_revision(),
        )

    async def start(self) -> None:
        await self.database.open()
        await self.auth.hasher.warm_up()

    async def stop(self) -> None:
        await self.database.close()


def from_scope(scope: Any) -> Runtime:
    runtime: Runtime = scope[SCOPE_KEY]
    return runtime
