"""survey gates: an event's row whether or not a survey of it is open, locked in turn

Revision ID: c3d8f1a6b2e4
Revises: b7c1e2d4a9f0
Create Date: 2026-12-06 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3d8f1a6b2e4"
down_revision: str | None = "b7c1e2d4a9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.rename_table("open_surveys", "survey_gates")
    with op.batch_alter_table("survey_gates") as table:
        table.alter_column("survey_id", existing_type=sa.String(length=36), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM survey_gates WHERE survey_id IS NULL")
    with op.batch_alter_table("survey_gates") as table:
        table.alter_column("survey_id", existing_type=sa.String(length=36), nullable=False)
    op.rename_table("survey_gates", "open_surveys")
