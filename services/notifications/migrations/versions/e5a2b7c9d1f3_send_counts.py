"""send counts: a send's deliveries by status, kept on the send, filled in from the ledger

Revision ID: e5a2b7c9d1f3
Revises: d3c6a9d12e43
Create Date: 2026-12-07 12:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5a2b7c9d1f3"
down_revision: str | None = "d3c6a9d12e43"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "sent", "failed", "suppressed", "bounced", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("sends") as table:
        for status in STATUSES:
            table.add_column(
                sa.Column(f"count_{status}", sa.Integer(), nullable=False, server_default="0")
            )
    for status in STATUSES:
        op.execute(
            f"UPDATE sends SET count_{status} = (SELECT count(*) FROM deliveries"
            f" WHERE deliveries.send_id = sends.id AND deliveries.status = '{status}')"
        )


def downgrade() -> None:
    with op.batch_alter_table("sends") as table:
        for status in STATUSES:
            table.drop_column(f"count_{status}")
