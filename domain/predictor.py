"""The backend's side of a prediction: named features in, a checked classifier answer out.

Wraps the app's one :class:`mlclient.MLClient`. Each model's metadata (its feature names in
column order, its versions) is fetched once and kept for a while, so a prediction is usually a
single call. Touches no database: the use case holds no connection while this runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from domain import inference_rules as rules
from mlclient import (
    BreakerStatus,
    MLBadRequest,
    MLCircuitOpen,
    MLClient,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLNotConfigured,
    MLSaturated,
    MLTimeout,
    ModelMetadata,
    Tensor,
)

# Metadata is re-read after this long, so a redeployed model's new version and features are
# picked up without a restart (and at once when the model refuses an input).
METADATA_TTL_SECONDS = 300.0


class MLObserver(Protocol):
    """Where calls and breaker changes are reported (the service wires Prometheus here)."""

    def call(self, model: str, outcome: str, seconds: float) -> None: ...

    def breaker(self, status: BreakerStatus) -> None: ...


class _Quiet:
    def call(self, model: str, outcome: str, seconds: float) -> None:
        pass

    def breaker(self, status: BreakerStatus) -> None:
        pass


def outcome_of(exc: MLError | None) -> str:
    """A metric label: ok, timeout, rejected (never sent: breaker, saturation, not
    configured), invalid (the model refused the input) or error."""
    if exc is None:
        return "ok"
    if isinstance(exc, MLTimeout):
        return "timeout"
    if isinstance(exc, MLCircuitOpen | MLSaturated | MLNotConfigured):
        return "rejected"
    if isinstance(exc, MLBadRequest | MLModelNotFound):
        return "invalid"
    return "error"


@dataclass(frozen=True, slots=True)
class Prediction:
    model_version: str
    outputs: dict[str, Any]
    upstream_status: int


class Predictor:
    def __init__(
        self,
        client: MLClient,
        observer: MLObserver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._observer = observer or _Quiet()
        self._clock = clock
        self._metadata: dict[str, tuple[float, ModelMetadata]] = {}

    @property
    def models(self) -> frozenset[str]:
        """The allow-list: the only model names a request may name."""
        return self.client.config.models

    @property
    def configured(self) -> bool:
        return self.client.config.base_url is not None

    async def predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction:
        started = self._clock()
        failure: MLError | None = None
        try:
            return await self._predict(model, features, request_id)
        except MLError as exc:
            failure = exc
            raise
        finally:
            self._observer.call(model, outcome_of(failure), self._clock() - started)
            self._observer.breaker(self.client.breaker_status())

    async def _predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction:
        metadata = await self.metadata(model, request_id)
        names = _feature_names(metadata)
        if not metadata.inputs or not names:
            raise MLContractViolation(f"metadata of {model!r} names no input or no feature_names")
        row = rules.feature_row(names, features)
        tensor = Tensor.from_rows(metadata.inputs[0].name, [row])
        try:
            result = await self.client.infer(model, [tensor], request_id, outputs=rules.OUTPUTS)
        except MLBadRequest:
            # The model may have changed under us: read its metadata afresh next time.
            self._metadata.pop(model, None)
            raise
        return Prediction(
            result.model_version, rules.classifier_outputs(result), result.upstream_status
        )

    async def metadata(self, model: str, request_id: str | None = None) -> ModelMetadata:
        cached = self._metadata.get(model)
        now = self._clock()
        if cached is not None and now - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        metadata = await self.client.model_metadata(model, request_id)
        self._metadata[model] = (now, metadata)
        return metadata

    def known_versions(self, model: str) -> list[str]:
        cached = self._metadata.get(model)
        return list(cached[1].versions) if cached else []

    async def health(self, request_id: str | None) -> dict[str, Any]:
        """The ML service as this instance sees it, within about two ready-deadlines however
        the service behaves: the readiness probe has its own short deadline, and the models'
        metadata is only asked of a ready service, under the same bound."""
        budget = self.client.config.ready_deadline_seconds
        ready, latency, detail = False, None, None
        try:
            status = await self.client.ready(request_id)
            ready, latency = status.ready, round(status.latency_ms, 3)
            if not ready:
                detail = f"The ML service answered {status.upstream_status} to its readiness probe."
        except MLError as exc:
            detail = _health_detail(exc)
        available: dict[str, bool] = {}
        if ready:
            available = await self._refresh_metadata(request_id, budget)
        self._observer.breaker(breaker := self.client.breaker_status())
        return {
            "configured": self.configured,
            "ready": ready,
            "detail": detail,
            "probe_latency_ms": latency,
            "breaker": {
                "state": breaker.state.value,
                "consecutive_failures": breaker.consecutive_failures,
                "retry_after_seconds": round(breaker.retry_after, 3),
            },
            "models": [
                {
                    "name": name,
                    "available": available.get(name, False),
                    "versions": self.known_versions(name),
                }
                for name in sorted(self.models)
            ],
        }

    async def _refresh_metadata(self, request_id: str | None, budget: float) -> dict[str, bool]:
        async def one(name: str) -> bool:
            try:
                metadata = await self.client.model_metadata(name, request_id)
            except MLError:
                return False
            self._metadata[name] = (self._clock(), metadata)
            return True

        names = sorted(self.models)
        try:
            async with asyncio.timeout(budget):
                found = await asyncio.gather(*(one(name) for name in names))
        except TimeoutError:
            return {}
        return dict(zip(names, found, strict=True))


def _feature_names(metadata: ModelMetadata) -> list[str]:
    """The model's columns in order, from its metadata parameters ([] if it names none)."""
    names = metadata.parameters.get("feature_names")
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return names
    return []


def _health_detail(exc: MLError) -> str:
    if exc.kind == "not_configured":
        return "No ML service is configured (MEDAI_ML_URL)."
    if exc.kind == "circuit_open":
        return "The circuit breaker is open after repeated failures; calls fail fast."
    if exc.kind == "saturated":
        return "Every call slot to the ML service is busy."
    if exc.kind == "timeout":
        return "The ML service did not answer its readiness probe in time."
    return "The ML service could not be reached."
