"""The planning database: plans and their parts, projections of other services' events,
and the outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.db import UtcDateTime
from shared.tables import service_base

Base = service_base()


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    track_id: Mapped[str | None] = mapped_column(ForeignKey("strategy_nodes.id"), index=True)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)

    goals: Mapped[list[Goal]] = relationship(order_by="Goal.position")
    audiences: Mapped[list[Audience]] = relationship(
        secondary="plan_audiences", order_by="PlanAudience.position", viewonly=True
    )
    messages: Mapped[list[Message]] = relationship(order_by="Message.position")
    channels: Mapped[list[Channel]] = relationship(order_by="Channel.position")
    activities: Mapped[list[Activity]] = relationship(order_by="Activity.position")
    deviations: Mapped[list[Deviation]] = relationship(order_by="Deviation.recorded_at")

    @property
    def live_activities(self) -> list[Activity]:
        """The activities that are not cancelled."""
        return [a for a in self.activities if a.cancelled_at is None]


class _PlanPart:
    """Parts belong to one plan and keep the order they were added in."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)


class Goal(_PlanPart, Base):
    """A measurable success criterion, e.g. "the newsletter reaches 1,000 recipients"."""

    __tablename__ = "goals"

    description: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(String(200))
    target: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(50))
    deadline: Mapped[date | None] = mapped_column(Date)
    # the latest value the metrics service reported (kpi.measured.v1)
    measured_value: Mapped[float | None] = mapped_column(Float)
    measured_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    measured_source: Mapped[str | None] = mapped_column(String(20))


class Audience(Base):
    """A target group of the whole organisation: plans reach it, contacts belong to it, and
    activities of different plans that reach it in the same weeks are flagged."""

    __tablename__ = "audiences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="other")
    needs: Mapped[str] = mapped_column(Text, default="")
    preferred_channels: Mapped[list] = mapped_column(JSON, default=list)  # ChannelKind values
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlanAudience(Base):
    """The audiences a plan addresses, in the order they were added to it."""

    __tablename__ = "plan_audiences"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    audience_id: Mapped[str] = mapped_column(
        ForeignKey("audiences.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)


class Message(_PlanPart, Base):
    __tablename__ = "messages"

    audience_id: Mapped[str] = mapped_column(ForeignKey("audiences.id"))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    lix: Mapped[float] = mapped_column(Float, default=0.0)
    readability_warning: Mapped[str | None] = mapped_column(Text)


class Channel(_PlanPart, Base):
    __tablename__ = "channels"

    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))


class Activity(_PlanPart, Base):
    __tablename__ = "activities"

    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recurrence: Mapped[str | None] = mapped_column(String(500))  # an RFC 5545 RRULE
    # a recurring activity's occurrences (ISO datetimes, UTC), expanded once from its rule
    occurrences: Mapped[list | None] = mapped_column(JSON)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)  # its last occurrence
    audience_id: Mapped[str | None] = mapped_column(ForeignKey("audiences.id"))
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))
    channel_id: Mapped[str | None] = mapped_column(ForeignKey("channels.id"))
    event_format: Mapped[str | None] = mapped_column(String(40))
    capacity: Mapped[int | None] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(String(300))
    # the durable timer: the next occurrence to fall due (none left: null), and when it last fired
    next_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    due_fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    partners: Mapped[list[Partner]] = relationship(
        secondary="activity_partners", order_by="ActivityPartner.position", viewonly=True
    )

    @property
    def times(self) -> list[datetime]:
        """When it takes place: its start, or each occurrence of its recurrence."""
        if self.occurrences is None:
            return [self.starts_at]
        return [datetime.fromisoformat(when) for when in self.occurrences]


class Partner(Base):
    """A co-organiser of activities and events, shared by the organisation's plans (KL, a union,
    a university)."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ActivityPartner(Base):
    __tablename__ = "activity_partners"

    activity_id: Mapped[str] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class Deviation(Base):
    """A change to an approved plan, agreed with management (DOMAIN.md, case B)."""

    __tablename__ = "deviations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    activity_id: Mapped[str | None] = mapped_column(ForeignKey("activities.id"))
    change: Mapped[str] = mapped_column(String(20))  # see domain.Change
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    agreed_by: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlanVersion(Base):
    """The plan as it was after each change: every revision is a version."""

    __tablename__ = "plan_versions"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[str] = mapped_column(String(300))
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    snapshot: Mapped[dict] = mapped_column(JSON)


class Strategy(Base):
    """A communication strategy: vision, values, a period of a few years, and its tree of
    focus areas, tracks and sub-tracks (DOMAIN.md, case C)."""

    __tablename__ = "strategies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str] = mapped_column(String(200))
    vision: Mapped[str] = mapped_column(Text)
    values: Mapped[list] = mapped_column(JSON)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    nodes: Mapped[list[StrategyNode]] = relationship(order_by="StrategyNode.position")


class StrategyNode(Base):
    """A focus area, track or sub-track of a strategy."""

    __tablename__ = "strategy_nodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(ForeignKey("strategies.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("strategy_nodes.id"))
    level: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)


class ActionPlanVersion(Base):
    """One revision of a strategy's action plan: the year it is for and its initiatives per
    track. Revisions are never changed; the next one gets the next version number."""

    __tablename__ = "action_plan_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(ForeignKey("strategies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list] = mapped_column(JSON)
    revised_by: Mapped[str] = mapped_column(String(200))
    revised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ActivityOutcome(Base):
    """Projection of what other services did with an activity (their events, not their tables)."""

    __tablename__ = "activity_outcomes"

    activity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36))
    deliveries_sent: Mapped[int] = mapped_column(Integer, default=0)
    deliveries_failed: Mapped[int] = mapped_column(Integer, default=0)


class Stakeholder(Base):
    """An organisation or person with a stake (DOMAIN.md, case D): who do we know?"""

    __tablename__ = "stakeholders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    gatekeeper: Mapped[str] = mapped_column(String(20), default="none")
    relays_to: Mapped[str] = mapped_column(Text, default="")  # whom a gatekeeper reaches
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StakeholderRelation(Base):
    """Who knows whom: stored once per pair, read from both sides."""

    __tablename__ = "stakeholder_relations"

    stakeholder_id: Mapped[str] = mapped_column(ForeignKey("stakeholders.id"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("stakeholders.id"), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Dialogue(Base):
    """A dialogue meeting with a stakeholder: what came out of it and what follows."""

    __tablename__ = "dialogues"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    stakeholder_id: Mapped[str] = mapped_column(ForeignKey("stakeholders.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    participants: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(Text, default="")
    follow_up_by: Mapped[date | None] = mapped_column(Date)
    logged_by: Mapped[str] = mapped_column(String(200))
