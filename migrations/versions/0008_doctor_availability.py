"""Doctors' availability: working hours, time off, lengths, buffer, notice, horizon.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Every doctor who exists now gets a row holding the documented default (Monday to Friday,
09:00-17:00 UTC, 30-minute appointments, no buffer, 60 minutes' notice, 90 days ahead: README,
Decisions, "Availability defaults"), so a booking outside those hours is refused from now on
and the doctor can see and change what they were given. A doctor appointed later has the same
default without a row until the first change. Existing appointments are kept whatever the hours
say (GET /doctors/{id}/availability/outside lists the ones outside them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_SCHEDULE = """{
  "weekly_hours": [
    {"day": "monday", "start": "09:00", "end": "17:00"},
    {"day": "tuesday", "start": "09:00", "end": "17:00"},
    {"day": "wednesday", "start": "09:00", "end": "17:00"},
    {"day": "thursday", "start": "09:00", "end": "17:00"},
    {"day": "friday", "start": "09:00", "end": "17:00"}
  ],
  "days_off": [],
  "time_off": [],
  "appointment_minutes": [30],
  "buffer_minutes": 0,
  "minimum_notice_minutes": 60,
  "horizon_days": 90
}"""


def upgrade() -> None:
    op.create_table(
        "doctor_availability",
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("schedule", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_doctor_availability_doctor_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_doctor_availability_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("doctor_id", name=op.f("pk_doctor_availability")),
    )
    op.execute(
        sa.text(
            "INSERT INTO doctor_availability (doctor_id, time_zone, schedule) "
            "SELECT id, 'UTC', CAST(:schedule AS jsonb) FROM users WHERE role = 'doctor'"
        ).bindparams(schedule=DEFAULT_SCHEDULE)
    )
    op.create_index(
        "ix_users_specialty_full_name",
        "users",
        ["specialty", "full_name"],
        postgresql_where=sa.text("role = 'doctor'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_users_specialty_full_name",
        table_name="users",
        postgresql_where=sa.text("role = 'doctor'"),
    )
    op.drop_table("doctor_availability")
