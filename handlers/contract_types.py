# Generated from openapi/medai.yaml by datamodel-code-generator; do not edit.
# Regenerate: uv run python -m tests.contract.generate_types
# which runs: datamodel-codegen --input openapi/medai.yaml --output handlers/contract_types.py
#     --input-file-type=openapi --output-model-type=typing.TypedDict
#     --target-python-version=3.11 --use-standard-collections --use-union-operator
#     --enum-field-as-literal=all --strict-nullable --no-use-closed-typed-dict
#     --use-schema-description --use-field-description --keep-model-order --disable-timestamp
#     --no-formatters
# then ruff check --fix and ruff format. tests/contract/test_contract_types.py fails on drift.

from __future__ import annotations

from typing import Literal, NotRequired, TypeAlias, TypedDict


class Appointment(TypedDict):
    id: str
    patient_id: str
    patient_name: str
    doctor_id: str
    doctor_name: str
    start_at: Timestamp
    end_at: Timestamp
    status: AppointmentStatus
    reason: str | None
    """
    The patient's reason for the visit.
    """
    notes: str | None
    """
    The doctor's notes.
    """
    cancellation_reason: str | None
    version: int
    """
    Grows with every change; the ETag is `"v<version>"`.
    """
    created_at: str
    updated_at: str


class AppointmentCreate(TypedDict):
    doctor_id: NotRequired[str]
    """
    Required for patients and admins; doctors may omit it (themself).
    """
    patient_id: NotRequired[str]
    """
    Required for doctors and admins; patients may omit it (themself).
    """
    start_at: Timestamp
    end_at: Timestamp
    reason: NotRequired[str | None]
    """
    The reason for the visit.
    """


class AppointmentPage(TypedDict):
    items: list[Appointment]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; null on the last page.
    """
    limit: int


AppointmentStatus: TypeAlias = Literal["booked", "arrived", "fulfilled", "cancelled", "noshow"]
"""
`booked` → `arrived` → `fulfilled`; `booked` → `cancelled`; `booked`/`arrived` → `noshow`.

"""


class AppointmentUpdate(TypedDict):
    """
    The fields to change; see the operation for who may change what.
    """

    start_at: NotRequired[Timestamp]
    end_at: NotRequired[Timestamp]
    status: NotRequired[AppointmentStatus]
    reason: NotRequired[str | None]
    notes: NotRequired[str | None]
    cancellation_reason: NotRequired[str]


class AuditEvent(TypedDict):
    id: str
    at: str
    actor_id: str | None
    """
    Null when unknown (failed sign-in).
    """
    actor_role: str | None
    client_address: str | None
    user_agent: str | None
    request_id: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    patient_ids: list[PatientId]
    """
    The patients whose data the event concerns.
    """
    outcome: int
    """
    The HTTP status the request ended with.
    """
    reason: str | None
    """
    Why it was refused.
    """


class AuditEventPage(TypedDict):
    items: list[AuditEvent]
    next_cursor: str | None
    limit: int


class Credentials(TypedDict):
    email: str
    password: str


Email: TypeAlias = str


Features: TypeAlias = dict[str, float]
"""
One case as named numbers. The names must be exactly the model's features, each once: the
`breast-cancer` model takes the 30 features of the Wisconsin Diagnostic Breast Cancer data
(`mean_radius` … `worst_fractal_dimension`; the model's metadata lists them in order).

"""


FullName: TypeAlias = str


class Health(TypedDict):
    status: Literal["ok"]
    checks: NotRequired[dict[str, str]]
    """
    Each dependency checked, with its state.
    """


class InferenceBreaker(TypedDict):
    """
    The circuit breaker in front of the ML service: `open` after repeated failures (calls fail
    fast with 503 until `retry_after_seconds` have passed), then `half_open` (one call
    probes), `closed` again when that call succeeds.

    """

    state: Literal["closed", "half_open", "open"]
    consecutive_failures: int
    retry_after_seconds: float


class InferenceCreate(TypedDict):
    """
    A prediction to make, and optionally whom and which visit it concerns.
    """

    model: ModelName
    features: Features
    patient_id: NotRequired[str]
    """
    The patient the prediction is about (a doctor's own patient).
    """
    appointment_id: NotRequired[str]
    """
    The appointment it belongs to (a doctor's own); implies its patient.
    """


class InferenceHealth(TypedDict):
    """
    The ML service as this instance of the API sees it.
    """

    configured: bool
    """
    Whether an ML service is configured at all.
    """
    ready: bool
    """
    Whether every model is available: the ML service said the model (not just the
    server) is ready, in time, and a request for it can be built from its metadata.

    """
    detail: str | None
    """
    Why it is not ready, model by model; null when it is.
    """
    probe_latency_ms: float | None
    """
    How long the slowest model's readiness probe took; null when none answered.
    """
    breaker: InferenceBreaker
    models: list[InferenceModel]
    """
    The models this service offers, and what the ML service said of each.
    """


class InferenceModel(TypedDict):
    """
    A model this service offers, as the ML service describes it.
    """

    name: ModelName
    available: bool
    """
    The ML service said just now that this model is ready (its own readiness probe, not
    the server's), and its metadata fits the model's configuration: a prediction can be
    made.

    """
    versions: list[Version]
    """
    The versions the ML service last reported for it, else the configured version (empty
    if neither).

    """


class InferencePage(TypedDict):
    items: list[InferenceRecord]
    next_cursor: str | None
    """
    Pass as `cursor` for the next page; null on the last page.
    """
    limit: int


class InferenceRecord(TypedDict):
    """
    A prediction on record. The input features are not kept (they are clinical data that
    belong in the patient's chart): `input_sha256` proves which input was used. It is the
    SHA-256, in hex, of the canonical JSON `{"features": {…}, "model": "…"}` with keys sorted,
    no spaces and every feature value as a float, so the same case always has the same hash.

    """

    id: str
    model: ModelName
    model_version: str | None
    """
    The version the ML service reported in its answer, else the model's configured
    version; null when neither names one (the protocol makes it optional) or it did not
    answer.

    """
    status: InferenceStatus
    outputs: Outputs | None
    """
    What the model answered; null unless the status is `succeeded`.
    """
    error_class: str | None
    """
    Why a `failed` record failed: `timeout` (504), `upstream_error`, `contract_violation`,
    `response_too_large`, `upstream_rejected`, `config_mismatch` (502), `unreachable`,
    `circuit_open`, `saturated`, `not_configured`, `model_not_ready` (503),
    `model_not_found`, `input_rejected` (422), `cancelled` (the request ended before the
    answer) or `internal_error` (500). Null otherwise.

    """
    upstream_status: int | None
    """
    The HTTP status the ML service answered with; null if it gave none.
    """
    input_sha256: str
    patient_id: str | None
    appointment_id: str | None
    requested_by: str
    """
    The doctor or admin who asked.
    """
    requested_at: str
    completed_at: str | None
    latency_ms: float | None
    """
    How long the backend waited for the ML service, in milliseconds.
    """


InferenceStatus: TypeAlias = Literal["pending", "succeeded", "failed"]
"""
`pending` while the ML service is being asked, then `succeeded` or `failed`. A record still
pending well after `MEDAI_ML_TIMEOUT` was interrupted (the service stopped mid-call).

"""


ModelName: TypeAlias = str
"""
A model this service offers; `GET /inference/health` lists them.
"""


class Outputs(TypedDict):
    """
    What the model answered; null unless the status is `succeeded`.
    """

    probability: float
    """
    The probability of the model's positive class (for `breast-cancer`, malignant).
    """
    label: str
    """
    The class at the model's threshold (for `breast-cancer`, `malignant` or `benign`).
    """


Password: TypeAlias = str
"""
8 characters to 72 bytes of UTF-8. Longer passwords are refused.
"""


class PasswordGrant(TypedDict):
    """
    The OAuth 2.0 resource owner password grant (RFC 6749 §4.3.2).
    """

    grant_type: Literal["password"]
    username: str
    """
    The email.
    """
    password: str
    scope: NotRequired[str]
    """
    Ignored; the role decides.
    """
    client_id: NotRequired[str]
    """
    Ignored.
    """
    client_secret: NotRequired[str]
    """
    Ignored.
    """


PatientId: TypeAlias = str


class PrivateAccess(TypedDict):
    message: str
    user_id: str
    role: Role


class Problem(TypedDict):
    """
    An RFC 9457 problem detail. Operations may add extension members.
    """

    type: NotRequired[str]
    """
    A URI reference identifying the problem type.
    """
    title: str
    """
    Short summary of the problem type.
    """
    status: int
    """
    The HTTP status code.
    """
    detail: NotRequired[str | None]
    """
    What went wrong in this occurrence, for humans.
    """
    instance: NotRequired[str]
    """
    A URI reference for this occurrence.
    """


class RefreshRequest(TypedDict):
    refresh_token: str


class Registration(TypedDict):
    email: Email
    password: Password
    full_name: FullName


Role: TypeAlias = Literal["patient", "doctor", "admin"]
"""
A user's role.
"""


Specialty: TypeAlias = str | None
"""
A doctor's specialty; null for other roles.
"""


Timestamp: TypeAlias = str
"""
RFC 3339 with an offset; returned in UTC.
"""


class TokenPair(TypedDict):
    """
    An OAuth 2.0 style token response (RFC 6749 §5.1).
    """

    access_token: str
    """
    The JWT to send as `Authorization: Bearer …`.
    """
    token_type: Literal["Bearer"]
    expires_in: int
    """
    Seconds until the access token expires.
    """
    refresh_token: str
    """
    Opaque; works once, for `POST /auth/refresh`.
    """
    refresh_expires_in: int
    """
    Seconds the refresh token stays valid if unused.
    """


class User(TypedDict):
    """
    A user profile. `email`, `active`, `created_at` and `updated_at` are present only for
    the user themself and for admins (the full profile); others get the public profile.

    """

    id: str
    email: NotRequired[Email]
    full_name: FullName
    role: Role
    specialty: Specialty | None
    active: NotRequired[bool]
    """
    Deactivated users cannot sign in.
    """
    created_at: NotRequired[str]
    updated_at: NotRequired[str]


class UserPage(TypedDict):
    items: list[User]
    total: int
    """
    How many users match the filters in all.
    """
    limit: int
    offset: int


class UserUpdate(TypedDict):
    """
    The fields to change; see the operation for who may change what.
    """

    full_name: NotRequired[FullName]
    specialty: NotRequired[Specialty | None]
    password: NotRequired[Password]
    current_password: NotRequired[str]
    """
    Required with `password`.
    """
    role: NotRequired[Role]
    active: NotRequired[bool]


Version: TypeAlias = str
