"""deliveries per occurrence

Revision ID: 5c2284579040
Revises: 5bb084cd12c1
Create Date: 2026-11-25 20:53:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "5c2284579040"
down_revision: str | None = "5bb084cd12c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _deliveries_without_unique_key() -> sa.Table:
    """The deliveries table as it stands once `scheduled_for` is added, minus its unique key."""
    return sa.Table(
        "deliveries",
        sa.MetaData(),
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("activity_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("contact_id", sa.String(length=36), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shared.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", shared.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", shared.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", shared.db.UtcDateTime(timezone=True), nullable=True),
    )


def upgrade() -> None:
    op.add_column(
        "deliveries",
        sa.Column("scheduled_for", shared.db.UtcDateTime(timezone=True), nullable=True),
    )
    # until now one e-mail per activity and contact, sent at the activity's time
    op.execute(
        "UPDATE deliveries SET scheduled_for ="
        " CASE WHEN attempts = 0 THEN next_attempt_at ELSE created_at END"
    )
    # the key becomes one e-mail per activity, contact and time; SQLite's old key has no name,
    # so there the table is copied from a definition without it
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint("deliveries_activity_id_contact_id_key", "deliveries", type_="unique")
    with op.batch_alter_table(
        "deliveries",
        recreate="always" if sqlite else "auto",
        copy_from=_deliveries_without_unique_key() if sqlite else None,
    ) as batch_op:
        batch_op.alter_column(
            "scheduled_for", existing_type=shared.db.UtcDateTime(timezone=True), nullable=False
        )
        batch_op.create_unique_constraint(
            "uq_deliveries_occurrence", ["activity_id", "contact_id", "scheduled_for"]
        )
    if sqlite:  # the copy has no indexes yet
        for column in ("activity_id", "status", "next_attempt_at"):
            op.create_index(f"ix_deliveries_{column}", "deliveries", [column])


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_occurrence", type_="unique")
        batch_op.drop_column("scheduled_for")
