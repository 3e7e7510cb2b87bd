"""The metrics database: counters per plan and event type, and the outbox/inbox (see shared.tables)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.tables import service_base

Base = service_base()


class PlanCount(Base):
    __tablename__ = "plan_counts"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
