"""The metrics database: counters per plan and event type, and the outbox/inbox."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table


class Base(DeclarativeBase):
    pass


outbox = outbox_table(Base.metadata)
inbox = inbox_table(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)


class PlanCount(Base):
    __tablename__ = "plan_counts"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
