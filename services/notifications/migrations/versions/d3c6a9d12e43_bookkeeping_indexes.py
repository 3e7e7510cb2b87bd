"""bookkeeping indexes: the relay's unsent rows, and what pruning deletes, found by index

Revision ID: d3c6a9d12e43
Revises: c3d8f1a6b2e4
Create Date: 2026-12-06 17:20:00.000000
"""

from collections.abc import Sequence

from shared import plumbing_migrations

revision: str = "d3c6a9d12e43"
down_revision: str | None = "c3d8f1a6b2e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    plumbing_migrations.index_bookkeeping()


def downgrade() -> None:
    plumbing_migrations.drop_bookkeeping_indexes()
