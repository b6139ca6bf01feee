"""What can go wrong calling the ML service, as one exception tree.

::

    MLError                          kind                    HTTP status (adapters/ml.py maps it)
    ├── MLTimeout                    "timeout"               504
    ├── MLBadGateway                                         502
    │   ├── MLUpstreamError          "upstream_error"        (upstream 5xx other than 503, odd 4xx)
    │   ├── MLContractViolation      "contract_violation"    (reply does not fit the contract)
    │   ├── MLResponseTooLarge       "response_too_large"    (reply over the size cap)
    │   ├── MLUpstreamRejected       "upstream_rejected"     (a ready model refused our request:
    │   │                                                     an output name, a shape, a datatype)
    │   └── MLConfigMismatch         "config_mismatch"       (configuration does not fit metadata)
    ├── MLUnavailable                                        503 + Retry-After: retry_after
    │   ├── MLCircuitOpen            "circuit_open"          (breaker open: failing fast)
    │   ├── MLNotConfigured          "not_configured"        (no ML service URL)
    │   ├── MLSaturated              "saturated"             (all call slots busy)
    │   ├── MLUnreachable            "unreachable"           (connection refused, upstream 503)
    │   └── MLModelNotReady          "model_not_ready"       (unknown, unloaded or loading model)
    ├── MLModelNotFound              "model_not_found"       (not on the allow-list: never called)
    └── MLBadRequest                 "input_rejected"        (the features are not the model's)

The backend checks the features against the model's configured feature list before calling, so
an upstream 4xx is never the doctor's fault: it is either a model that is not ready (503) or a
request the backend built wrongly for this model (502). ``kind`` is a short stable string for
records, metrics and problem types; ``outcome`` is the metric label; ``str(error)`` is a
sentence for logs and never contains the upstream body beyond a short, quoted excerpt.
"""

from __future__ import annotations


class MLError(Exception):
    """Base class: the call to the ML service did not produce a trusted result."""

    kind = "ml_error"
    # The metric label of a call that ended so: ok, timeout, rejected (never sent), invalid
    # (the input was refused before any call) or error.
    outcome = "error"

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The HTTP status the ML service answered, when it answered at all (for the record).
        self.upstream_status = upstream_status


class MLTimeout(MLError):
    """No complete answer within the deadline (connect, read, write or overall)."""

    kind = "timeout"
    outcome = "timeout"


class MLBadGateway(MLError):
    """The ML service answered, but not with something we can use."""

    kind = "bad_gateway"


class MLUpstreamError(MLBadGateway):
    kind = "upstream_error"


class MLContractViolation(MLBadGateway):
    kind = "contract_violation"


class MLResponseTooLarge(MLBadGateway):
    kind = "response_too_large"


class MLUpstreamRejected(MLBadGateway):
    """A model that says it is ready refused the request the backend built (its 4xx)."""

    kind = "upstream_rejected"


class MLConfigMismatch(MLBadGateway):
    """The model's configuration here does not fit what the ML service declares for it."""

    kind = "config_mismatch"


class MLUnavailable(MLError):
    """No call was made or could succeed now; ``retry_after`` is a hint in whole seconds."""

    kind = "unavailable"

    def __init__(
        self, message: str, *, retry_after: int = 1, upstream_status: int | None = None
    ) -> None:
        super().__init__(message, upstream_status=upstream_status)
        self.retry_after = max(1, retry_after)


class MLCircuitOpen(MLUnavailable):
    kind = "circuit_open"
    outcome = "rejected"


class MLNotConfigured(MLUnavailable):
    kind = "not_configured"
    outcome = "rejected"


class MLSaturated(MLUnavailable):
    kind = "saturated"
    outcome = "rejected"


class MLUnreachable(MLUnavailable):
    kind = "unreachable"


class MLModelNotReady(MLUnavailable):
    """The ML service does not serve the model now: unknown to it, unloaded, or still loading
    (its 404, or a 4xx while the model's own readiness is not 200)."""

    kind = "model_not_ready"


class MLModelNotFound(MLError):
    """The model is not on the allow-list: no call was made."""

    kind = "model_not_found"
    outcome = "invalid"


class MLBadRequest(MLError):
    """The input does not fit the model (checked here, before any call)."""

    kind = "input_rejected"
    outcome = "invalid"
