# Generated from openapi/medai.yaml by datamodel-code-generator; do not edit.
# Regenerate: uv run python -m tests.contract.generate_types
# which runs: datamodel-codegen --input openapi/medai.yaml --output handlers/contract_types.py
#     --input-file-type=openapi --output-model-type=typing.TypedDict
#     --target-python-version=3.11 --use-standard-collections --use-union-operator
#     --enum-field-as-literal=all --strict-nullable --no-use-closed-typed-dict
#     --use-schema-description --use-field-description --keep-model-order --disable-timestamp
#     --no-formatters
# then ruff check --fix and ruff format. tests/contract/test_contract_types.py fails on drift.
# Each problem type narrows Problem's `type` to its own URI (allOf), which a TypedDict subclass
# may not do (PEP 589); mypy's complaint about that override is all that is switched off:
# mypy: disable-error-code=misc

from __future__ import annotations

from typing import Literal, NotRequired, TypeAlias, TypedDict


class AccountToken(TypedDict):
    token: str
    """
    The code from the mail.
    """


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


class AppointmentEvent(TypedDict):
    """
    The JSON body of a webhook delivery (`POST` to the endpoint), signed per Standard
    Webhooks: headers `webhook-id` (= `id`, the same on every retry: drop repeats by it),
    `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the base64
    HMAC-SHA256, keyed by the secret's base64-decoded bytes after `whsec_`, of
    `{webhook-id}.{webhook-timestamp}.{body}`). Never carries the reason or notes of an
    appointment. Answer 2xx within 10 seconds; anything else is retried.

    """

    id: str
    type: WebhookEventType
    created_at: str
    data: AppointmentEventData


class AppointmentEventData(TypedDict):
    """
    The appointment after the change (`previous_*` on a reschedule).
    """

    appointment_id: str
    patient_id: str
    doctor_id: str
    start_at: str
    end_at: str
    status: AppointmentStatus
    version: int
    previous_start_at: NotRequired[str]
    previous_end_at: NotRequired[str]


AppointmentMinute: TypeAlias = int


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


class Availability(TypedDict):
    time_zone: str
    weekly_hours: list[WeeklyInterval]
    days_off: list[DaysOffItem]
    time_off: list[TimeOffRange]
    appointment_minutes: list[AppointmentMinute]
    buffer_minutes: int
    minimum_notice_minutes: int
    horizon_days: int
    version: int
    """
    Grows with every change; the ETag is `"v<version>"`.
    """


class AvailabilityUpdate(TypedDict):
    time_zone: str
    """
    The doctor's IANA time zone (400 if unknown).
    """
    weekly_hours: list[WeeklyInterval]
    days_off: NotRequired[list[DaysOffItem]]
    """
    Whole days off in the doctor's zone.
    """
    time_off: NotRequired[list[TimeOffRange]]
    appointment_minutes: NotRequired[list[AppointmentMinute]]
    """
    The appointment lengths offered; the first is the slot search's default.
    """
    buffer_minutes: NotRequired[int]
    """
    Kept free before and after every appointment.
    """
    minimum_notice_minutes: NotRequired[int]
    """
    How long before its start a slot can still be booked.
    """
    horizon_days: NotRequired[int]
    """
    How far ahead a slot can be booked.
    """


class BodyFieldError(TypedDict):
    pointer: str
    """
    A JSON Pointer (RFC 6901) to the field in the request body; empty for the body
    itself.

    """
    message: str
    """
    What is wrong, fit to show a person.
    """


class Challenge(TypedDict):
    challenge_token: ChallengeToken


ChallengeToken: TypeAlias = str
"""
The `challenge_token` of an `mfa-required` problem from `POST /auth/login`.
"""


class Credentials(TypedDict):
    email: str
    password: str
    refresh_token_in: NotRequired[Literal["body", "cookie"]]
    """
    Where the refresh token goes: the reply's body (also when absent), or (browser
    apps) an `HttpOnly` cookie scoped to `/auth`, in which case the body has none.

    """


DaysOffItem: TypeAlias = str


class DoctorSlots(TypedDict):
    doctor_id: str
    time_zone: str
    length_minutes: int
    items: list[Slot]


Email: TypeAlias = str


ErrorClass: TypeAlias = str
"""
How a failed prediction failed (see `InferenceRecord.error_class`).
"""


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


class MfaEnrolment(TypedDict):
    """
    A pending TOTP authenticator: load it into an authenticator app (scan
    `provisioning_uri` as a QR code, or type `secret`), then confirm it with its first code.

    """

    secret: str
    """
    The shared secret, base32 (RFC 4648), 160 bits.
    """
    provisioning_uri: str
    """
    The `otpauth://totp/…` URI authenticator apps read from a QR code.
    """


class MfaTokenPair(TypedDict):
    """
    The token pair of a sign-in completed with a second factor (access tokens carry
    `amr: ["pwd", "otp"]`); after an enrolment at sign-in, also the recovery codes, this once.

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
    user_id: str
    """
    The signed-in user (`GET /users/{user_id}`).
    """
    role: Role
    recovery_codes: NotRequired[RecoveryCodeList]


MissingFeature: TypeAlias = str


ModelName: TypeAlias = str
"""
A model this service offers; `GET /inference/health` lists them.
"""


OtpCode: TypeAlias = str
"""
The six digits the authenticator app shows now.
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


class OutsideAppointment(TypedDict):
    id: str
    patient_id: str
    start_at: Timestamp
    end_at: Timestamp
    status: AppointmentStatus


class OutsideAppointments(TypedDict):
    items: list[OutsideAppointment]
    truncated: bool
    limit: int


ParameterError = TypedDict(
    "ParameterError",
    {
        "parameter": str,
        "in": Literal["query", "path", "header", "cookie"],
        "message": str,
    },
)


FieldError: TypeAlias = BodyFieldError | ParameterError
"""
One field at fault, in the body (`pointer`) or among the parameters (`parameter`, `in`).

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


class PasswordReset(TypedDict):
    token: str
    """
    The code from the reset mail.
    """
    password: Password


class PasswordResetRequest(TypedDict):
    email: str


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
    errors: NotRequired[list[FieldError]]
    """
    On a 400 from validation, and on a 415: every value that broke a rule (at most 20),
    each either a body member, by JSON pointer, or a parameter, by name and location.
    `detail` is the first of them as a sentence. Messages name the rule, never the value.

    """


class BeyondHorizonProblem(Problem):
    """
    The time starts further ahead than the doctor's booking horizon. Admins may
    override it (`override_availability=true`, audited).

    """

    type: Literal["/docs/problems/beyond-horizon"]
    """
    A URI reference identifying the problem type.
    """
    availability_rule: Literal["beyond-horizon"]
    time_zone: str
    """
    The doctor's IANA time zone.
    """


class ConflictProblem(Problem):
    """
    The current state forbids the request (a duplicate email, a booking no longer
    changeable, an Idempotency-Key still in use); `detail` says why.

    """

    type: Literal["/docs/problems/conflict"]
    """
    A URI reference identifying the problem type.
    """


class ContentTooLargeProblem(Problem):
    """
    The request body is larger than the service accepts (64 KiB unless configured
    otherwise).

    """

    type: Literal["/docs/problems/content-too-large"]
    """
    A URI reference identifying the problem type.
    """


class EmailNotVerifiedProblem(Problem):
    """
    The caller's email address is not verified yet, and booking needs it: confirm it with
    the code of the verification mail (`POST /auth/email-verification`), or ask for another
    (`POST /auth/email-verification/resend`).

    """

    type: Literal["/docs/problems/email-not-verified"]
    """
    A URI reference identifying the problem type.
    """
    email_verified: Literal[False]


class FieldsRefusedProblem(Problem):
    """
    The change names fields the caller may not change; `refused_fields` lists them.

    """

    type: Literal["/docs/problems/fields-refused"]
    """
    A URI reference identifying the problem type.
    """
    refused_fields: list[RefusedField]


class ForbiddenProblem(Problem):
    """
    Signed in, but the caller's role may not do this (the operation's `x-roles`, or a rule
    described on the operation).

    """

    type: Literal["/docs/problems/forbidden"]
    """
    A URI reference identifying the problem type.
    """


class InTimeOffProblem(Problem):
    """
    The time meets one of the doctor's days off or time off ranges (holidays, a half
    day). Admins may override it (`override_availability=true`, audited).

    """

    type: Literal["/docs/problems/in-time-off"]
    """
    A URI reference identifying the problem type.
    """
    availability_rule: Literal["in-time-off"]
    time_zone: str
    """
    The doctor's IANA time zone.
    """


class InsideBufferProblem(Problem):
    """
    The time leaves less than the doctor's buffer free before or after another
    appointment of the doctor. Admins may override it (`override_availability=true`,
    audited).

    """

    type: Literal["/docs/problems/inside-buffer"]
    """
    A URI reference identifying the problem type.
    """
    availability_rule: Literal["inside-buffer"]
    time_zone: str
    """
    The doctor's IANA time zone.
    """


class InsideMinimumNoticeProblem(Problem):
    """
    The time starts sooner than the doctor's minimum notice from now. Admins may
    override it (`override_availability=true`, audited).

    """

    type: Literal["/docs/problems/inside-minimum-notice"]
    """
    A URI reference identifying the problem type.
    """
    availability_rule: Literal["inside-minimum-notice"]
    time_zone: str
    """
    The doctor's IANA time zone.
    """


class InternalErrorProblem(Problem):
    """
    The server hit an unexpected condition (a bug); it is logged with the request id.
    Nothing about it is sent.

    """

    type: Literal["/docs/problems/internal-error"]
    """
    A URI reference identifying the problem type.
    """


class InvalidRequestProblem(Problem):
    """
    The request breaks the contract (a missing or malformed field, parameter, header or body)
    or a rule the schema cannot express (`detail` says which). `errors`, when present, lists
    each field at fault, so a form can show each message beside its field.

    """

    type: Literal["/docs/problems/invalid-request"]
    """
    A URI reference identifying the problem type.
    """
    errors: NotRequired[list[FieldError]]
    """
    What is wrong with each field, parameter or header.
    """


class MethodNotAllowedProblem(Problem):
    """
    The path exists but not with this method; the `Allow` header lists the methods it has.

    """

    type: Literal["/docs/problems/method-not-allowed"]
    """
    A URI reference identifying the problem type.
    """


class MfaRequiredProblem(Problem):
    """
    The password was right, but the sign-in needs a second factor. `challenge` says which
    step comes next: `otp`, send `challenge_token` with a TOTP or recovery code to
    `POST /auth/login/mfa`; `enrol`, the account's role requires an authenticator it does
    not have yet: enrol one with `POST /auth/login/mfa/enrolment`, then send its first code
    to `POST /auth/login/mfa`. The challenge expires after `expires_in` seconds and with any
    password change.

    """

    type: Literal["/docs/problems/mfa-required"]
    """
    A URI reference identifying the problem type.
    """
    challenge: Literal["otp", "enrol"]
    challenge_token: ChallengeToken
    expires_in: int


class ModelInputRefusedProblem(Problem):
    """
    The model is not one this service offers (`invalid_field: model`, with the `models` it
    offers), or the model refuses the input (`invalid_field: features`): the feature names are
    not exactly the model's (`missing_features`, `unknown_features`), a value is not finite, or
    the ML service rejected it. Once the request was recorded, `inference_id` names the record
    and `error_class` how it was settled.

    """

    type: Literal["/docs/problems/model-input-refused"]
    """
    A URI reference identifying the problem type.
    """
    invalid_field: Literal["model", "features"]
    models: NotRequired[list[ModelName]]
    missing_features: NotRequired[list[MissingFeature]]
    unknown_features: NotRequired[list[UnknownFeature]]
    error_class: NotRequired[ErrorClass]
    inference_id: NotRequired[str]


class NotChangeableProblem(Problem):
    """
    Only a booked appointment that has not started can be deleted by its patient or doctor;
    `current_status` says where it is (cancel it instead).

    """

    type: Literal["/docs/problems/not-changeable"]
    """
    A URI reference identifying the problem type.
    """
    current_status: AppointmentStatus


class NotFoundProblem(Problem):
    """
    No such resource, or the caller may not see it (both answer the same, so ids cannot be
    probed).

    """

    type: Literal["/docs/problems/not-found"]
    """
    A URI reference identifying the problem type.
    """


class OutsideWorkingHoursProblem(Problem):
    """
    The time is not within one of the doctor's weekly working intervals (in the
    doctor's time zone, `time_zone`). Admins may override it
    (`override_availability=true`, audited).

    """

    type: Literal["/docs/problems/outside-working-hours"]
    """
    A URI reference identifying the problem type.
    """
    availability_rule: Literal["outside-working-hours"]
    time_zone: str
    """
    The doctor's IANA time zone.
    """


class PreconditionFailedProblem(Problem):
    """
    The resource changed since the client read it (`If-Match` is stale); `current_version`
    is its version now.

    """

    type: Literal["/docs/problems/precondition-failed"]
    """
    A URI reference identifying the problem type.
    """
    current_version: int


class PreconditionRequiredProblem(Problem):
    """
    The change needs `If-Match` with the ETag of the version being changed.
    """

    type: Literal["/docs/problems/precondition-required"]
    """
    A URI reference identifying the problem type.
    """


RecoveryCode: TypeAlias = str
"""
One of the recovery codes (hyphens, spaces and case do not matter).
"""


RecoveryCodeListItem: TypeAlias = str


RecoveryCodeList: TypeAlias = list[RecoveryCodeListItem]
"""
Single-use codes that stand in for a TOTP code; shown once, stored hashed.
"""


class RecoveryCodes(TypedDict):
    recovery_codes: RecoveryCodeList


class RefreshRequest(TypedDict):
    """
    The refresh token; leave it out to use the `medai_refresh` cookie instead.
    """

    refresh_token: NotRequired[str]


RefusedField: TypeAlias = str


class Registration(TypedDict):
    email: Email
    password: Password
    full_name: FullName


Role: TypeAlias = Literal["patient", "doctor", "admin"]
"""
A user's role.
"""


class SecondFactor1(TypedDict):
    """
    The challenge and exactly one of `code` or `recovery_code`.
    """

    challenge_token: ChallengeToken
    code: OtpCode


class SecondFactor2(TypedDict):
    """
    The challenge and exactly one of `code` or `recovery_code`.
    """

    challenge_token: ChallengeToken
    recovery_code: RecoveryCode


SecondFactor: TypeAlias = SecondFactor1 | SecondFactor2
"""
The challenge and exactly one of `code` or `recovery_code`.
"""


class Slot(TypedDict):
    start_at: Timestamp
    end_at: Timestamp
    local_start_at: str
    """
    `start_at` in the requested time zone.
    """
    local_end_at: str
    """
    `end_at` in the requested time zone.
    """


class SlotTakenProblem(Problem):
    """
    The doctor or the patient already has an appointment overlapping the slot. `conflict`
    says who; `busy_from`/`busy_until` say when (never whose appointment it is).

    """

    type: Literal["/docs/problems/slot-taken"]
    """
    A URI reference identifying the problem type.
    """
    conflict: Literal["doctor_busy", "patient_busy"]
    busy_from: NotRequired[str]
    busy_until: NotRequired[str]


Specialty: TypeAlias = str | None
"""
A doctor's specialty; null for other roles.
"""


class SpecialtySlot(TypedDict):
    doctor_id: str
    doctor_name: str
    start_at: Timestamp
    end_at: Timestamp
    local_start_at: str
    local_end_at: str


class SpecialtySlots(TypedDict):
    specialty: str
    time_zone: str
    items: list[SpecialtySlot]
    truncated: bool
    """
    There were more slots than `limit`.
    """
    limit: int


class TimeOffRange(TypedDict):
    start_at: Timestamp
    end_at: Timestamp
    reason: NotRequired[str]


Timestamp: TypeAlias = str
"""
RFC 3339 with an offset, at or after 1900-01-01T00:00:00Z and before
9000-01-01T00:00:00Z; returned in UTC.

"""


class TokenPair(TypedDict):
    """
    An OAuth 2.0 style token response (RFC 6749 §5.1), with who signed in. `refresh_token` is
    absent when it was set as a cookie instead (`"refresh_token_in": "cookie"`).

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
    refresh_token: NotRequired[str]
    """
    Opaque; works once, for `POST /auth/refresh`.
    """
    refresh_expires_in: int
    """
    Seconds the refresh token stays valid if unused.
    """
    user_id: str
    """
    The signed-in user (`GET /users/{user_id}`).
    """
    role: Role


class TooManyRequestsProblem(Problem):
    """
    The caller went over a limit (failed sign-ins, predictions a minute); retry after
    `Retry-After` seconds.

    """

    type: Literal["/docs/problems/too-many-requests"]
    """
    A URI reference identifying the problem type.
    """


class TotpCode(TypedDict):
    code: OtpCode


class TransitionNotAllowedProblem(Problem):
    """
    The status lifecycle does not allow this move; `allowed_transitions` lists the statuses
    the appointment may move to from `current_status` (empty when it is final).

    """

    type: Literal["/docs/problems/transition-not-allowed"]
    """
    A URI reference identifying the problem type.
    """
    current_status: AppointmentStatus
    allowed_transitions: list[AppointmentStatus]


class UnauthenticatedProblem(Problem):
    """
    No valid credentials (the access token is missing, expired, forged or revoked, or the
    email and password do not match).

    """

    type: Literal["/docs/problems/unauthenticated"]
    """
    A URI reference identifying the problem type.
    """


class UnavailableProblem(Problem):
    """
    A dependency (the database, the ML service) is unavailable; retry after `Retry-After`
    seconds. For a prediction already recorded, `inference_id` names the record and
    `error_class` how it was settled.

    """

    type: Literal["/docs/problems/unavailable"]
    """
    A URI reference identifying the problem type.
    """
    error_class: NotRequired[ErrorClass]
    inference_id: NotRequired[str]


UnknownFeature: TypeAlias = str


class UnprocessableProblem(Problem):
    """
    Well-formed but unusable; `invalid_field`, when present, names the field (e.g.
    `doctor_id` that is not an active doctor). Also an Idempotency-Key reused with another
    body.

    """

    type: Literal["/docs/problems/unprocessable"]
    """
    A URI reference identifying the problem type.
    """
    invalid_field: NotRequired[str]


class UnsupportedMediaTypeProblem(Problem):
    """
    The request body is not in a media type the operation accepts (`Content-Type`).

    """

    type: Literal["/docs/problems/unsupported-media-type"]
    """
    A URI reference identifying the problem type.
    """


class UpstreamFailedProblem(Problem):
    """
    The ML service answered, but not with something usable (an error of its own, a reply
    that breaks its contract, or one too large). The failure is on record (`inference_id`,
    `error_class`).

    """

    type: Literal["/docs/problems/upstream-failed"]
    """
    A URI reference identifying the problem type.
    """
    error_class: ErrorClass
    inference_id: NotRequired[str]


class UpstreamTimeoutProblem(Problem):
    """
    The ML service gave no complete answer within the deadline (`MEDAI_ML_TIMEOUT`). The
    failure is on record (`inference_id`, `error_class`).

    """

    type: Literal["/docs/problems/upstream-timeout"]
    """
    A URI reference identifying the problem type.
    """
    error_class: ErrorClass
    inference_id: NotRequired[str]


class User(TypedDict):
    """
    A user profile. `email`, `email_verified`, `active`, `created_at` and `updated_at` are
    present only for the user themself and for admins (the full profile); others get the
    public profile.

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
    email_verified: NotRequired[bool]
    """
    Whether the address was confirmed by the code mailed to it; a patient cannot book
    until it is.

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
    email: NotRequired[Email]
    """
    The user's own new address (with `current_password`): it is unverified until the
    code mailed to it is confirmed, and the old address is told of the change.

    """
    current_password: NotRequired[str]
    """
    Required with `password` and with `email`.
    """
    role: NotRequired[Role]
    active: NotRequired[bool]


Version: TypeAlias = str


class WebhookDelivery(TypedDict):
    id: str
    event_id: str
    """
    The `webhook-id` header and the body's `id`.
    """
    event_type: WebhookEventType
    event: AppointmentEvent
    status: Literal["pending", "delivered", "dead"]
    attempts: list[WebhookDeliveryAttempt]
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None


class WebhookDeliveryAttempt(TypedDict):
    attempt: int
    at: str
    status_code: int | None
    """
    The receiver's HTTP status; null when no answer came.
    """
    error: str | None
    duration_ms: int


class WebhookDeliveryList(TypedDict):
    items: list[WebhookDelivery]


class WebhookEndpoint(TypedDict):
    id: str
    url: str
    description: str | None
    event_types: list[WebhookEventType]
    enabled: bool
    """
    False once too many deliveries failed in a row (or an admin said so).
    """
    consecutive_failures: int
    disabled_reason: str | None
    created_at: str
    updated_at: str


class WebhookEndpointCreate(TypedDict):
    url: str
    """
    Where deliveries are sent; see the operation for what is refused.
    """
    event_types: list[WebhookEventType]
    description: NotRequired[str | None]


class WebhookEndpointCreated(TypedDict):
    """
    A new endpoint, with its signing secret (shown in this reply only).
    """

    id: str
    url: str
    description: str | None
    event_types: list[WebhookEventType]
    enabled: bool
    consecutive_failures: int
    disabled_reason: str | None
    created_at: str
    updated_at: str
    secret: str
    """
    The signing secret (`whsec_` and base64). Verify each delivery's
    `webhook-signature` with it.

    """


class WebhookEndpointList(TypedDict):
    items: list[WebhookEndpoint]


class WebhookEndpointUpdate(TypedDict):
    url: NotRequired[str]
    event_types: NotRequired[list[WebhookEventType]]
    description: NotRequired[str | None]
    enabled: NotRequired[bool]


WebhookEventType: TypeAlias = Literal[
    "appointment.booked", "appointment.rescheduled", "appointment.cancelled"
]
"""
What happened to an appointment.
"""


class WeeklyInterval(TypedDict):
    """
    Working time on a weekday, wall-clock in the doctor's zone. An `end` not after `start`
    ends the next day (22:00-06:00); `24:00` is midnight at the end of the day.

    """

    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    start: str
    end: str
