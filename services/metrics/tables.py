"""The metrics database: read models projected from the other services' events (counts per
plan, activities, events, registrations, deliveries), the plans' goals and their measured
values, the surveys and their answers, and the outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts.planning import GoalRef
from shared.db import UtcDateTime
from shared.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()


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


class PlanFact(Base):
    """An approved plan's title, for its report."""

    __tablename__ = "plan_facts"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(Text)


class KpiDue(Base):
    """A plan whose counted goals may have new values: measured (and published) together,
    once per interval, not once per counted event."""

    __tablename__ = "kpi_due"

    plan_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime)


class ActivityFact(Base):
    """An approved activity, as its latest activity event had it (the report's rows)."""

    __tablename__ = "activity_facts"

    activity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str | None] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # whom it is for (the report's figures per audience); unknown for those counted before
    audience_id: Mapped[str | None] = mapped_column(String(36))
    audience_name: Mapped[str | None] = mapped_column(Text)


class EventFact(Base):
    """An event of the events service, with the activity it was set up for (if any)."""

    __tablename__ = "event_facts"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    activity_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # created, published, completed, cancelled


class RegistrationFact(Base):
    """Where one registration stands: its latest status, and whether it was checked in and
    asked for the survey. Counts are queries over these rows, so a replay gives the same."""

    __tablename__ = "registration_facts"
    __table_args__ = (Index("ix_registration_facts_event", "event_id", "status"),)

    registration_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    plan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(20))
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeliveryFact(Base):
    """One delivery of an activity and how it ended: failed, sent (a failure resent), or
    bounced (sent, then came back for good)."""

    __tablename__ = "delivery_facts"
    __table_args__ = (Index("ix_delivery_facts_activity", "plan_id", "activity_id", "status"),)

    delivery_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36))
    activity_id: Mapped[str] = mapped_column(String(36))
    contact_id: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))  # failed, sent, bounced
    at: Mapped[datetime] = mapped_column(UtcDateTime)  # when it was sent (given up, bounced)


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    intro: Mapped[str | None] = mapped_column(Text)
    intro_en: Mapped[str | None] = mapped_column(Text)
    plan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    activity_id: Mapped[str | None] = mapped_column(String(36))
    goal_id: Mapped[str | None] = mapped_column(String(36))  # measured by its satisfaction
    anonymous: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))  # draft, open, closed
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the questions, each {id, kind, text, text_en, section, required, satisfaction, options}
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer)


class SurveyInvitee(Base):
    """Someone asked to answer: a checked-in attendee of the survey's event (`target` is the
    event), or a personal link issued for the survey (`target` is the survey). Only the hash
    of whom: the response rate needs how many, not who."""

    __tablename__ = "survey_invitees"

    target: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)


class SurveyLinkUse(Base):
    """A personal link that was used: one answer per link. No time and no response id, so an
    anonymous survey's answers cannot be matched back to the links."""

    __tablename__ = "survey_link_uses"

    survey_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_hash: Mapped[str] = mapped_column(String(64), primary_key=True)


class SurveyResponse(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_survey", "survey_id", "position"),)

    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    survey_id: Mapped[str] = mapped_column(String(36))
    respondent: Mapped[str | None] = mapped_column(String(200))  # null when anonymous
    submitted_on: Mapped[date] = mapped_column(Date)  # the day only: no timing to match
    language: Mapped[str] = mapped_column(String(2))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)  # question id → value
