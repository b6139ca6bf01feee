"""Inference records: every prediction asked of the ML service, success or failure.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

The input features are not stored, only their SHA-256: the record proves which input a
prediction was made from without becoming a second copy of clinical data.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "inference_records",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("model_name", sa.Text(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=True),
        sa.Column("input_sha256", sa.Text(), nullable=False),
        sa.Column("outputs", postgresql.JSONB(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("upstream_status", sa.Integer(), nullable=True),
        sa.Column("error_class", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Numeric(12, 3), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')",
            name=op.f("ck_inference_records_status"),
        ),
        sa.CheckConstraint(
            "input_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_inference_records_input_sha256")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (completed_at IS NULL)",
            name=op.f("ck_inference_records_completion"),
        ),
        sa.CheckConstraint(
            "status <> 'succeeded' OR (outputs IS NOT NULL AND model_version IS NOT NULL)",
            name=op.f("ck_inference_records_success_has_outputs"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_inference_records_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_inference_records_patient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_inference_records_appointment_id_appointments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inference_records")),
    )
    op.create_index(
        "ix_inference_records_requested_by_requested_at",
        "inference_records",
        ["requested_by", "requested_at"],
    )
    op.create_index(
        "ix_inference_records_patient_id_requested_at",
        "inference_records",
        ["patient_id", "requested_at"],
    )
    op.create_index("ix_inference_records_requested_at", "inference_records", ["requested_at"])


def downgrade() -> None:
    op.drop_table("inference_records")
