"""What can go wrong calling the ML service, as one exception tree.

::

    MLError                          kind                    HTTP status the backend maps it to
    ├── MLTimeout                    "timeout"               504
    ├── MLBadGateway                                         502
    │   ├── MLUpstreamError          "upstream_error"        (upstream 5xx other than 503, odd 4xx)
    │   ├── MLContractViolation      "contract_violation"    (reply does not fit the contract)
    │   └── MLResponseTooLarge       "response_too_large"    (reply over the size cap)
    ├── MLUnavailable                                        503 + Retry-After: retry_after
    │   ├── MLCircuitOpen            "circuit_open"          (breaker open: failing fast)
    │   ├── MLNotConfigured          "not_configured"        (no ML service URL)
    │   ├── MLSaturated              "saturated"             (all call slots busy)
    │   └── MLUnreachable            "unreachable"           (connection refused, upstream 503)
    ├── MLModelNotFound              "model_not_found"       422 (not allowed here, or not served)
    └── MLBadRequest                 "input_rejected"        422 (upstream 400: model refused input)

``kind`` is a short stable string for records, metrics and problem types; ``str(error)`` is a
sentence for logs and never contains the upstream body beyond a short, quoted excerpt.
"""

from __future__ import annotations


class MLError(Exception):
    """Base class: the call to the ML service did not produce a trusted result."""

    kind = "ml_error"

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The HTTP status the ML service answered, when it answered at all (for the record).
        self.upstream_status = upstream_status


class MLTimeout(MLError):
    """No complete answer within the deadline (connect, read, write or overall)."""

    kind = "timeout"


class MLBadGateway(MLError):
    """The ML service answered, but not with something we can use."""

    kind = "bad_gateway"


class MLUpstreamError(MLBadGateway):
    kind = "upstream_error"


class MLContractViolation(MLBadGateway):
    kind = "contract_violation"


class MLResponseTooLarge(MLBadGateway):
    kind = "response_too_large"


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


class MLNotConfigured(MLUnavailable):
    kind = "not_configured"


class MLSaturated(MLUnavailable):
    kind = "saturated"


class MLUnreachable(MLUnavailable):
    kind = "unreachable"


class MLModelNotFound(MLError):
    """The model is not on the allow-list, or the ML service does not serve it."""

    kind = "model_not_found"


class MLBadRequest(MLError):
    """The ML service refused the input (its 400); the message quotes its reason."""

    kind = "input_rejected"
