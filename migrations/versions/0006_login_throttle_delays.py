"""Growing delays for sign-in throttling: the end of the delay a counter earned.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Sign-in throttling no longer locks a key out until its window ends: an account, or an
account at one address, past its allowance waits a delay that doubles with every further
failure (domain.auth.LoginThrottle). ``blocked_until`` is when that delay ends; NULL for keys
that earn none (addresses, sign-ups) or are still within their allowance. Existing rows keep
their counts and start without a delay.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "login_throttle", sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("login_throttle", "blocked_until")
