"""The backend's side of a prediction: named features in, a checked classifier answer out.

Wraps the app's one :class:`mlclient.MLClient` and the models' configuration
(:mod:`mlclient.models`). Each model's metadata is read once and kept for a while, and the
configuration resolved against it into a :class:`~mlclient.models.Plan`, so a prediction is
usually a single call. Touches no database: the use case holds no connection while this runs.
Every failure of the ML service is logged here, once, with the model, the upstream status and
the reason; never the features.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mlclient.breaker import BreakerStatus
from mlclient.client import MLClient
from mlclient.errors import (
    MLBadGateway,
    MLBadRequest,
    MLError,
    MLModelNotFound,
    MLModelNotReady,
    MLNotConfigured,
    MLTimeout,
)
from mlclient.models import ModelSpec, Plan, plan

log = logging.getLogger("mlclient")

# Metadata is re-read after this long, so a redeployed model's new version and tensors are
# picked up without a restart (and at once after the model refused a request).
METADATA_TTL_SECONDS = 300.0
# A short excerpt of names in a problem: enough to fix the request, never a wall of text.
MAX_NAMES_SHOWN = 10
MAX_DETAIL = 300


class MLObserver(Protocol):
    """Where calls and breaker changes are reported (the service wires Prometheus here)."""

    def call(self, model: str, outcome: str, seconds: float) -> None: ...

    def breaker(self, status: BreakerStatus) -> None: ...


class _Quiet:
    def call(self, model: str, outcome: str, seconds: float) -> None:
        pass

    def breaker(self, status: BreakerStatus) -> None:
        pass


class FeatureMismatch(MLBadRequest):
    """The named features are not exactly the ones the model takes (checked against its
    configuration before any call: the doctor's request is at fault, a 422)."""

    def __init__(self, missing: Sequence[str], unknown: Sequence[str]) -> None:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} feature(s): {_names(missing)}")
        if unknown:
            parts.append(f"unknown feature(s): {_names(unknown)}")
        super().__init__("The features do not match the model's: " + "; ".join(parts) + ".")
        self.missing = tuple(missing[:MAX_NAMES_SHOWN])
        self.unknown = tuple(unknown[:MAX_NAMES_SHOWN])


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    return shown + (", …" if len(names) > MAX_NAMES_SHOWN else "")


def feature_row(feature_names: Sequence[str], features: Mapping[str, float]) -> list[float]:
    """The values in the model's column order; the names must match the model's exactly."""
    missing = [name for name in feature_names if name not in features]
    expected = set(feature_names)
    unknown = sorted(name for name in features if name not in expected)
    if missing or unknown:
        raise FeatureMismatch(missing, unknown)
    return [float(features[name]) for name in feature_names]


@dataclass(frozen=True, slots=True)
class Prediction:
    # The version that answered: the server's word, else the configured version, else None.
    model_version: str | None
    outputs: dict[str, Any]
    upstream_status: int


def _reason(exc: MLError) -> str:
    return exc.message


class Predictor:
    def __init__(
        self,
        client: MLClient,
        specs: Mapping[str, ModelSpec],
        observer: MLObserver | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.specs = dict(specs)
        servers = {spec.server_name for spec in self.specs.values()}
        if not servers <= client.config.models:
            raise ValueError("every configured model's server name must be on the allow-list")
        self._observer = observer or _Quiet()
        self._clock = clock
        self._plans: dict[str, tuple[float, Plan]] = {}
        self._versions: dict[str, tuple[str, ...]] = {}

    @property
    def models(self) -> frozenset[str]:
        """The only model names a request may name."""
        return frozenset(self.specs)

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
            _log_failure(model, exc)
            raise
        finally:
            outcome = "ok" if failure is None else failure.outcome
            self._observer.call(model, outcome, self._clock() - started)
            self._observer.breaker(self.client.breaker_status())

    async def _predict(
        self, model: str, features: Mapping[str, float], request_id: str | None
    ) -> Prediction:
        spec = self._spec(model)
        how = await self.plan(model, request_id)
        row = feature_row(how.features, features)
        try:
            result = await self.client.infer(
                spec.server_name,
                how.tensors(row),
                request_id,
                outputs=how.outputs,
                version=spec.path_version,
            )
            probability, label = how.answer(result)
        except (MLBadGateway, MLModelNotReady):
            # The model may have changed under us: read its metadata afresh next time.
            self._plans.pop(model, None)
            raise
        return Prediction(
            result.model_version or spec.version,
            {"probability": probability, "label": label},
            result.upstream_status,
        )

    def _spec(self, model: str) -> ModelSpec:
        spec = self.specs.get(model)
        if spec is None:
            raise MLModelNotFound(f"model {model!r} is not configured")
        return spec

    async def plan(self, model: str, request_id: str | None = None) -> Plan:
        """The model's configuration resolved against its metadata (kept for a while)."""
        cached = self._plans.get(model)
        now = self._clock()
        if cached is not None and now - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        spec = self._spec(model)
        metadata = await self.client.model_metadata(spec.server_name, request_id)
        resolved = plan(spec, metadata)
        self._plans[model] = (now, resolved)
        self._versions[model] = metadata.versions
        return resolved

    def known_versions(self, model: str) -> list[str]:
        versions = list(self._versions.get(model, ()))
        spec = self.specs[model]
        if not versions and spec.version is not None:
            versions = [spec.version]
        return versions

    async def health(
        self, request_id: str | None, describe: Callable[[MLError], str] = _reason
    ) -> dict[str, Any]:
        """Each configured model as this instance sees it, within about two ready-deadlines
        however the service behaves: a model is ``available`` only when the ML service says
        the model (not just the server) is ready and a request for it can be built from its
        metadata. ``describe`` says why a model is not (the backend's adapter puts its own
        words first)."""
        budget = 2 * self.client.config.ready_deadline_seconds
        names = sorted(self.specs)
        reports: dict[str, tuple[bool, float | None, MLError | None]] = {}
        if not self.configured:
            unconfigured = MLNotConfigured("no ML service is configured: set MEDAI_ML_URL")
            reports = {name: (False, None, unconfigured) for name in names}
        else:
            try:
                async with asyncio.timeout(budget):
                    found = await asyncio.gather(
                        *(self._model_health(name, request_id) for name in names)
                    )
                reports = dict(zip(names, found, strict=True))
            except TimeoutError:
                late = MLTimeout(f"ML service gave no answer within {budget} s")
                reports = {name: (False, None, late) for name in names}
        self._observer.breaker(breaker := self.client.breaker_status())
        problems = [f"{name}: {describe(exc)}" for name, (_, _, exc) in reports.items() if exc]
        latencies = [latency for _, latency, _ in reports.values() if latency is not None]
        detail = "; ".join(problems) or None
        if detail is not None and len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        return {
            "configured": self.configured,
            "ready": bool(names) and all(ok for ok, _, _ in reports.values()),
            "detail": detail,
            "probe_latency_ms": round(max(latencies), 3) if latencies else None,
            "breaker": {
                "state": breaker.state.value,
                "consecutive_failures": breaker.consecutive_failures,
                "retry_after_seconds": round(breaker.retry_after, 3),
            },
            "models": [
                {
                    "name": name,
                    "available": reports.get(name, (False, None, None))[0],
                    "versions": self.known_versions(name),
                }
                for name in names
            ],
        }

    async def _model_health(
        self, model: str, request_id: str | None
    ) -> tuple[bool, float | None, MLError | None]:
        spec = self.specs[model]
        try:
            status = await self.client.model_ready(spec.server_name, spec.path_version, request_id)
            if not status.ready:
                answered = status.upstream_status
                return (
                    False,
                    status.latency_ms,
                    MLModelNotReady(
                        f"ML service answered {answered} to the model's readiness probe",
                        upstream_status=answered,
                    ),
                )
            self._plans.pop(model, None)
            await self.plan(model, request_id)
        except MLError as exc:
            return False, None, exc
        return True, status.latency_ms, None


def _log_failure(model: str, exc: MLError) -> None:
    """One line per failed prediction: the model, what happened, the upstream status and its
    reason (the client keeps that to a short quoted excerpt); never the features."""
    if exc.outcome == "invalid":
        return  # the doctor's request was at fault, answered 422: nothing of the ML service's
    log.warning(
        "ML prediction failed: model=%s error_class=%s upstream_status=%s reason=%s",
        model,
        exc.kind,
        exc.upstream_status,
        exc.message,
    )
