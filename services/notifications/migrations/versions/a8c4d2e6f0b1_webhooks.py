"""webhooks: systems subscribed to an audience's messages, and their deliveries

Revision ID: a8c4d2e6f0b1
Revises: f7b3c2d4a6e8
Create Date: 2026-12-07 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "a8c4d2e6f0b1"
down_revision: str | None = "f7b3c2d4a6e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("audience_id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhooks_audience_id", "webhooks", ["audience_id"])
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("webhook_id", sa.String(36), nullable=True))
    only_posts = sa.text("webhook_id IS NOT NULL")
    op.create_index(
        "uq_deliveries_webhook",
        "deliveries",
        ["send_id", "webhook_id"],
        unique=True,
        sqlite_where=only_posts,
        postgresql_where=only_posts,
    )


def downgrade() -> None:
    op.drop_index("uq_deliveries_webhook", table_name="deliveries")
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("webhook_id")
    op.drop_index("ix_webhooks_audience_id", table_name="webhooks")
    op.drop_table("webhooks")
