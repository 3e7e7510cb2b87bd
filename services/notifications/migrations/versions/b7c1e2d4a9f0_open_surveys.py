"""open surveys: survey e-mails wait for their event's survey

Revision ID: b7c1e2d4a9f0
Revises: 9265f0797759
Create Date: 2026-12-02 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "b7c1e2d4a9f0"
down_revision: str | None = "9265f0797759"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_surveys",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("survey_id", sa.String(length=36), nullable=False),
        sa.Column("opens_at", shared.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", shared.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("open_surveys")
