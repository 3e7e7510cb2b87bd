"""bookkeeping indexes: the relay's unsent rows, and what pruning deletes, found by index

Revision ID: d4d7b0e23f54
Revises: e3e4a12abef0
Create Date: 2026-12-06 17:20:00.000000
"""

from collections.abc import Sequence

from shared import plumbing_migrations

revision: str = "d4d7b0e23f54"
down_revision: str | None = "e3e4a12abef0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_migrations.index_bookkeeping()


def downgrade() -> None:
    plumbing_migrations.drop_bookkeeping_indexes()
