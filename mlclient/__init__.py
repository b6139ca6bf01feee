"""The backend's client of the ML service: Open Inference Protocol v2, `openapi/inference-v2.yaml`.

Imports nothing of the backend: the backend's ML adapter (``adapters/ml.py``) depends on it,
never the reverse, and turns its errors into domain errors. The models file
(:mod:`mlclient.models`) and the predictor over the client (:mod:`mlclient.gateway`) live here
too, out of the domain.
"""

from mlclient.breaker import BreakerState, BreakerStatus, CircuitBreaker
from mlclient.client import MLClient
from mlclient.config import MLClientConfig
from mlclient.contract import InferenceResult, ModelMetadata, ReadyStatus, Tensor, TensorSpec
from mlclient.errors import (
    MLBadGateway,
    MLBadRequest,
    MLCircuitOpen,
    MLConfigMismatch,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLModelNotReady,
    MLNotConfigured,
    MLResponseTooLarge,
    MLSaturated,
    MLTimeout,
    MLUnavailable,
    MLUnreachable,
    MLUpstreamError,
    MLUpstreamRejected,
)

__all__ = [
    "BreakerState",
    "BreakerStatus",
    "CircuitBreaker",
    "InferenceResult",
    "MLBadGateway",
    "MLBadRequest",
    "MLCircuitOpen",
    "MLClient",
    "MLClientConfig",
    "MLConfigMismatch",
    "MLContractViolation",
    "MLError",
    "MLModelNotFound",
    "MLModelNotReady",
    "MLNotConfigured",
    "MLResponseTooLarge",
    "MLSaturated",
    "MLTimeout",
    "MLUnavailable",
    "MLUnreachable",
    "MLUpstreamError",
    "MLUpstreamRejected",
    "ModelMetadata",
    "ReadyStatus",
    "Tensor",
    "TensorSpec",
]
