"""The database schema as SQLAlchemy Core tables: the source for migrations and queries.

Core tables rather than ORM classes because every read path selects rows straight into
replies; hydrating ORM entities per row is the single largest cost of a list endpoint
(measured in ../shared/DESIGN.md).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

# Deterministic constraint names so that migrations written by hand and autogenerate agree.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = text("now()")
NEW_UUID = text("gen_random_uuid()")

ROLES = ("patient", "doctor", "admin")

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    # Stored lower-cased: uniqueness is case-insensitive without an expression index.
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("full_name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("specialty", Text, nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    # Bumped on deactivation, role or password change: access tokens carry the version they
    # were issued under, so every older token stops being accepted at once.
    Column("session_version", Integer, nullable=False, server_default=text("0")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # When the address was confirmed by the code mailed to it; NULL: not (yet). A sign-up, or a
    # change of email, starts unverified.
    Column("email_verified_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("role IN ('patient', 'doctor', 'admin')", name="role"),
    CheckConstraint("email = lower(email)", name="email_lower"),
)
Index("ix_users_role_full_name", users.c.role, users.c.full_name)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # One family per sign-in; reuse of a spent token revokes the whole family (RFC 9700 §4.14).
    Column("family_id", Uuid, nullable=False),
    # SHA-256 of the opaque token: a database leak does not yield usable tokens.
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("family_expires_at", DateTime(timezone=True), nullable=False),
    Column("spent_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
Index("ix_refresh_tokens_family_id", refresh_tokens.c.family_id)
Index("ix_refresh_tokens_user_id", refresh_tokens.c.user_id)

# Statuses that hold the time slot. Cancelled and no-show appointments, and deleted ones, free
# it. "fulfilled" keeps it: the doctor's time was actually used.
SLOT_HOLDING_STATUSES = ("booked", "arrived", "fulfilled")
STATUSES = ("booked", "arrived", "fulfilled", "cancelled", "noshow")
MAX_DURATION_HOURS = 8

appointments = Table(
    "appointments",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    Column("patient_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("doctor_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("booked_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False, server_default=text("'booked'")),
    Column("reason", Text, nullable=True),
    Column("notes", Text, nullable=True),
    Column("cancellation_reason", Text, nullable=True),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    # Medical records are retained: a deleted appointment is hidden, never removed.
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("start_at < end_at", name="time_order"),
    # Bounding the duration lets a time-window query bound start_at on both sides, so the
    # (doctor_id, start_at) index answers "overlapping [from, to)" with one range scan.
    CheckConstraint(f"end_at - start_at <= interval '{MAX_DURATION_HOURS} hours'", name="duration"),
    CheckConstraint(
        "status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')", name="status"
    ),
)
# The exclusion constraints (no overlapping slot-holding appointments per doctor and per patient)
# use a range over the uuid (uuid_range) because the embedded server ships no btree_gist; they
# are created in migration 0002 and reflected by name only (autogenerate cannot compare them).
Index(
    "ix_appointments_patient_start",
    appointments.c.patient_id,
    appointments.c.start_at,
    postgresql_where=appointments.c.deleted_at.is_(None),
)
Index(
    "ix_appointments_doctor_start",
    appointments.c.doctor_id,
    appointments.c.start_at,
    postgresql_where=appointments.c.deleted_at.is_(None),
)
# (start_at, id) is the lists' sort key: an unscoped page reads only the rows it returns,
# however many appointments share a start time (migration 0005).
Index(
    "ix_appointments_start_id",
    appointments.c.start_at,
    appointments.c.id,
    postgresql_where=appointments.c.deleted_at.is_(None),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("key", Text, primary_key=True),
    # SHA-256 of the canonical request: the same key with another body is refused.
    Column("request_hash", LargeBinary, nullable=False),
    Column("status", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("resource_id", Uuid, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)
Index("ix_idempotency_keys_created_at", idempotency_keys.c.created_at)

# One row per sign-in; its refresh tokens form a family (refresh_tokens.family_id). Access
# tokens name their session (claim "sid"), so signing out ends them at once too.
sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # How the user authenticated for this sign-in (RFC 8176 values): every access token and
    # every refresh of the sign-in carries it as "amr".
    Column("amr", ARRAY(Text), nullable=False, server_default=text("'{pwd}'")),
)
Index("ix_sessions_user_id", sessions.c.user_id)

# A user's TOTP authenticator (RFC 6238). Pending until confirmed by a first code; at most one
# per user. ``last_step`` is the time step of the last code accepted: a code of that step or an
# earlier one is refused, so an observed code cannot be replayed within its window.
mfa_totp = Table(
    "mfa_totp",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("last_step", BigInteger, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

# Single-use tokens mailed to a user (email verification, password reset), as SHA-256. A reset
# is bound to the session version it was issued under; a verification to the address it was
# sent to.
account_tokens = Table(
    "account_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("session_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("purpose IN ('verify-email', 'reset-password')", name="purpose"),
)
Index("ix_account_tokens_user_id_purpose", account_tokens.c.user_id, account_tokens.c.purpose)

# Single-use recovery codes, as SHA-256 (random codes of 60 bits: no slow hash needed).
mfa_recovery_codes = Table(
    "mfa_recovery_codes",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("code_hash", LargeBinary, primary_key=True),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

# Failed sign-ins in a fixed window, shared by every instance, and the end of the growing
# delay a key earned. Keys: "account:<email>" (counted whether or not the account exists),
# "pair:<ip> <email>", "address:<ip>" and "sign-up:<ip>" (attempts, not failures).
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", Text, primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("blocked_until", DateTime(timezone=True), nullable=True),
)

# Append-only (a trigger refuses UPDATE and DELETE). Never holds passwords, tokens or
# clinical free text: only who, from where, what, when, and the outcome.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("actor_id", Uuid, nullable=True),
    Column("actor_role", Text, nullable=True),
    Column("client_address", Text, nullable=True),
    Column("user_agent", Text, nullable=True),
    Column("request_id", Text, nullable=True),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=True),
    Column("resource_id", Text, nullable=True),
    Column("patient_ids", ARRAY(Uuid), nullable=False, server_default=text("'{}'")),
    Column("outcome", Integer, nullable=False),
    Column("reason", Text, nullable=True),
)
Index("ix_audit_events_at", audit_events.c.at)
Index("ix_audit_events_actor_id_at", audit_events.c.actor_id, audit_events.c.at)
Index("ix_audit_events_resource", audit_events.c.resource_type, audit_events.c.resource_id)
Index("ix_audit_events_patient_ids", audit_events.c.patient_ids, postgresql_using="gin")

INFERENCE_STATUSES = ("pending", "succeeded", "failed")

# One row per prediction asked of the ML service, success or failure: who asked, about which
# patient and appointment, which model and version answered, what it said, how it failed. The
# input features are clinical data that belong in the patient's chart; the record keeps only
# their SHA-256 (``input_sha256``), enough to prove which input a prediction was made from.
inference_records = Table(
    "inference_records",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    Column("requested_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("patient_id", Uuid, ForeignKey("users.id"), nullable=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id"), nullable=True),
    Column("model_name", Text, nullable=False),
    # The version the ML service reported in its answer, else the configured one, else null
    # (the protocol makes it optional).
    Column("model_version", Text, nullable=True),
    Column("input_sha256", Text, nullable=False),
    Column("outputs", JSONB, nullable=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("upstream_status", Integer, nullable=True),
    Column("error_class", Text, nullable=True),
    # Why the ML service failed, as the backend logged it (at most 300 characters, no features).
    Column("error_reason", Text, nullable=True),
    Column("latency_ms", Numeric(12, 3), nullable=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    CheckConstraint("input_sha256 ~ '^[0-9a-f]{64}$'", name="input_sha256"),
    CheckConstraint("(status = 'pending') = (completed_at IS NULL)", name="completion"),
    CheckConstraint(
        "status <> 'succeeded' OR outputs IS NOT NULL",
        name="success_has_outputs",
    ),
)
Index(
    "ix_inference_records_requested_by_requested_at",
    inference_records.c.requested_by,
    inference_records.c.requested_at,
)
Index(
    "ix_inference_records_patient_id_requested_at",
    inference_records.c.patient_id,
    inference_records.c.requested_at,
)
Index("ix_inference_records_requested_at", inference_records.c.requested_at)

# A doctor's availability (domain.scheduling): the time zone, and the rest as the API spells it
# (weekly hours, days off, time off, lengths, buffer, notice, horizon) in one document, read and
# written whole, versioned for If-Match like an appointment. A doctor without a row has the
# documented default (version 0) until the first change; migration 0008 gave every doctor that
# existed then a row holding that default.
doctor_availability = Table(
    "doctor_availability",
    metadata,
    Column("doctor_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("time_zone", Text, nullable=False),
    Column("schedule", JSONB, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_by", Uuid, ForeignKey("users.id"), nullable=True),
)
# The doctors of a specialty, in the order the slot search lists them.
Index(
    "ix_users_specialty_full_name",
    users.c.specialty,
    users.c.full_name,
    postgresql_where=text("role = 'doctor'"),
)
OUTBOX_STATUSES = ("pending", "delivered", "dead")

# The transactional outbox (migration 0009): a message written in the same transaction as the
# change it announces, delivered after commit by the dispatcher (domain/outbox.py). A pending
# row is claimed by pushing ``available_at`` past the delivery's lease, so a dispatcher that
# dies mid-delivery leaves it to another one once the lease ends.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    Column("kind", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    # Enqueueing twice with the same key keeps the first message (e.g. one reminder per slot).
    Column("dedup_key", Text, nullable=True, unique=True),
    Column("status", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    CheckConstraint(
        "status IN ('pending', 'delivered', 'dead')",
        name="status",
    ),
)
# What the dispatcher polls: only pending rows, by when they may next be tried.
Index(
    "ix_outbox_pending_available_at",
    outbox.c.available_at,
    postgresql_where=outbox.c.status == "pending",
)

# Webhook endpoints registered by admins (migration 0009). The secret signs deliveries
# (Standard Webhooks): it must be readable to sign, so it is stored as issued.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=NEW_UUID),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("secret", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    # Failed attempts since the last success; past the limit the endpoint is disabled.
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    Column("disabled_reason", Text, nullable=True),
    Column("created_by", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

# One row per delivery attempt of a webhook message (an outbox row of kind 'webhook'): the
# delivery log admins read (status code or error, when, how long).
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", Uuid, nullable=False),
    Column(
        "endpoint_id",
        Uuid,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
)
Index("ix_webhook_attempts_delivery_id", webhook_attempts.c.delivery_id)
Index("ix_webhook_attempts_endpoint_id", webhook_attempts.c.endpoint_id)
