"""Appointments with database-enforced no-double-booking, and idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

The exclusion constraints compare a doctor (or patient) id for equality inside a GiST index.
GiST has no operator class for plain uuid without the btree_gist extension, which the embedded
PostgreSQL does not ship; a one-point range over uuid (``uuid_range(id, id, '[]')``) compares
equal exactly when the ids do and uses the built-in range operator class. The same migration
runs unchanged on any PostgreSQL 16.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")
SLOT_HOLDING = "status IN ('booked', 'arrived', 'fulfilled') AND deleted_at IS NULL"


def upgrade() -> None:
    op.execute("CREATE TYPE uuid_range AS RANGE (subtype = uuid)")
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("booked_by", sa.Uuid(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'booked'"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("start_at < end_at", name=op.f("ck_appointments_time_order")),
        sa.CheckConstraint(
            "end_at - start_at <= interval '8 hours'", name=op.f("ck_appointments_duration")
        ),
        sa.CheckConstraint(
            "status IN ('booked', 'arrived', 'fulfilled', 'cancelled', 'noshow')",
            name=op.f("ck_appointments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_appointments_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["users.id"], name=op.f("fk_appointments_doctor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["booked_by"], ["users.id"], name=op.f("fk_appointments_booked_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    for who in ("doctor", "patient"):
        op.execute(
            f"ALTER TABLE appointments ADD CONSTRAINT ex_appointments_{who}_overlap "
            f"EXCLUDE USING gist (uuid_range({who}_id, {who}_id, '[]') WITH =, "
            f"tstzrange(start_at, end_at, '[)') WITH &&) WHERE ({SLOT_HOLDING})"
        )
    live = sa.text("deleted_at IS NULL")
    op.create_index(
        "ix_appointments_patient_start",
        "appointments",
        ["patient_id", "start_at"],
        postgresql_where=live,
    )
    op.create_index(
        "ix_appointments_doctor_start",
        "appointments",
        ["doctor_id", "start_at"],
        postgresql_where=live,
    )
    op.create_index("ix_appointments_start", "appointments", ["start_at"], postgresql_where=live)
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("appointments")
    op.execute("DROP TYPE uuid_range")
