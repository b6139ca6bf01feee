"""Inference records: a success may have no model version; a failure keeps the upstream reason.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The Open Inference Protocol makes ``model_version`` in an infer reply optional: MLServer omits
it unless the model has a version, KServe sends null. A prediction they answered is still a
prediction, so a succeeded record needs its outputs, not a version (the configured version is
recorded when the server names none). ``error_reason`` keeps why the ML service failed (its
status line and a short quoted excerpt of its message, at most 300 characters; never the
features), so a failed record can be explained without the logs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK = "ck_inference_records_success_has_outputs"


def upgrade() -> None:
    op.add_column("inference_records", sa.Column("error_reason", sa.Text(), nullable=True))
    op.drop_constraint(op.f(CHECK), "inference_records", type_="check")
    op.create_check_constraint(
        op.f(CHECK), "inference_records", "status <> 'succeeded' OR outputs IS NOT NULL"
    )


def downgrade() -> None:
    # Records answered without a version get the placeholder the old constraint needs.
    op.execute(
        "UPDATE inference_records SET model_version = 'unknown' "
        "WHERE status = 'succeeded' AND model_version IS NULL"
    )
    op.drop_constraint(op.f(CHECK), "inference_records", type_="check")
    op.create_check_constraint(
        op.f(CHECK),
        "inference_records",
        "status <> 'succeeded' OR (outputs IS NOT NULL AND model_version IS NOT NULL)",
    )
    op.drop_column("inference_records", "error_reason")
