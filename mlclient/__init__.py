"""The backend's client of the ML service: Open Inference Protocol v2, `openapi/inference-v2.yaml`.

Imports nothing of the backend: handlers and use cases depend on it, never the reverse.
"""

from mlclient.breaker import BreakerState, BreakerStatus, CircuitBreaker
from mlclient.client import MLClient
from mlclient.config import MLClientConfig
from mlclient.contract import InferenceResult, ModelMetadata, ReadyStatus, Tensor, TensorSpec
from mlclient.errors import (
    MLBadGateway,
    MLBadRequest,
    MLCircuitOpen,
    MLContractViolation,
    MLError,
    MLModelNotFound,
    MLNotConfigured,
    MLResponseTooLarge,
    MLSaturated,
    MLTimeout,
    MLUnavailable,
    MLUnreachable,
    MLUpstreamError,
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
    "MLContractViolation",
    "MLError",
    "MLModelNotFound",
    "MLNotConfigured",
    "MLResponseTooLarge",
    "MLSaturated",
    "MLTimeout",
    "MLUnavailable",
    "MLUnreachable",
    "MLUpstreamError",
    "ModelMetadata",
    "ReadyStatus",
    "Tensor",
    "TensorSpec",
]
