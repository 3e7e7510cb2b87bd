"""a strategy counts its action plan's versions: the latest one is kept on the strategy,
filled in from the versions already stored

Revision ID: 0a21e55f16c0
Revises: d1a4e7b90c21
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0a21e55f16c0"
down_revision: str | None = "d1a4e7b90c21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("action_plan_version", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE strategies SET action_plan_version = COALESCE("
        "(SELECT MAX(version) FROM action_plan_versions"
        " WHERE action_plan_versions.strategy_id = strategies.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("strategies", schema=None) as batch_op:
        batch_op.drop_column("action_plan_version")
