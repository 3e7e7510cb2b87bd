"""The metrics database: counters per plan and event type, the plans' goals and their measured
values, and the outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.contracts.planning import GoalRef
from shared.db import UtcDateTime
from shared.tables import service_base

Base = service_base()


class PlanCount(Base):
    __tablename__ = "plan_counts"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class KpiGoal(Base):
    """A goal of an approved plan, as its latest plan.approved/plan.revised had it."""

    __tablename__ = "kpi_goals"
    __table_args__ = (Index("ix_kpi_goals_counted", "plan_id", "counted_metric"),)

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer)  # its place in the plan's list
    metric: Mapped[str] = mapped_column(Text)  # as the planner wrote it
    counted_metric: Mapped[str | None] = mapped_column(String(50))  # if counted here
    target: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)

    def ref(self) -> GoalRef:
        return GoalRef(
            id=self.goal_id,
            metric=self.metric,
            target=self.target,
            unit=self.unit,
            deadline=self.deadline,
        )


class KpiMeasurement(Base):
    """One measured value of a goal: each is published as a kpi.measured.v1 (its id)."""

    __tablename__ = "kpi_measurements"
    __table_args__ = (
        Index("ix_kpi_measurements_latest", "plan_id", "goal_id", "measured_at", "position"),
    )

    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    plan_id: Mapped[str] = mapped_column(String(36))
    goal_id: Mapped[str] = mapped_column(String(36))
    metric: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(Text)  # the person, if reported
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
