"""The parts of a plan, as mapped to their tables: goals, the audiences it reaches, messages,
channels, activities (with their partners and schedule) and deviations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    and_,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.planning import domain
from services.planning import recurrence as recurrence_rules
from services.planning.tables import Audience, Base, Partner
from shared.contracts.vocabulary import ActivityKind
from shared.db import UtcDateTime


@dataclass(frozen=True)
class Schedule:
    """When an activity takes place: its start, and for a series its rule (as kept), every
    occurrence and the last one (`recurrence.expand_recurrence`)."""

    starts_at: datetime
    recurrence: str | None = None
    occurrences: list[datetime] | None = None

    @classmethod
    def expand(cls, starts_at: datetime, recurrence: str | None, kind: str) -> Schedule:
        """Check and expand a series once (a rule engine may search a while for occurrences:
        call this off the event loop)."""
        if recurrence is None:
            return cls(starts_at)
        rule, times = recurrence_rules.expand_recurrence(recurrence, starts_at, ActivityKind(kind))
        return cls(starts_at, rule, times)

    @property
    def ends_at(self) -> datetime:
        return self.occurrences[-1] if self.occurrences else self.starts_at


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

    def measure(self, value: float, at: datetime, source: str) -> None:
        """Show the metrics service's value next to the target; one measured earlier that
        arrives late does not replace a newer one."""
        if self.measured_at is None or at >= self.measured_at:
            self.measured_value, self.measured_at, self.measured_source = value, at, source


class PlanAudience(Base):
    """The audiences a plan addresses, in the order they were added to it."""

    __tablename__ = "plan_audiences"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    audience_id: Mapped[str] = mapped_column(
        ForeignKey("audiences.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)

    audience: Mapped[Audience] = relationship(lazy="joined")


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

    partner_links: Mapped[list[ActivityPartner]] = relationship(order_by="ActivityPartner.position")

    @classmethod
    def new(
        cls,
        id: str,
        plan_id: str,
        position: int,
        fields: dict,
        schedule: Schedule,
        partners: list[Partner],
    ) -> Activity:
        """`fields`: title, kind, owner, audience, message and channel ids, and `event` (format,
        capacity, venue) or None."""
        event = fields.get("event") or {}
        activity = cls(
            id=id,
            plan_id=plan_id,
            position=position,
            **{k: v for k, v in fields.items() if k != "event"},
            event_format=event.get("format"),
            capacity=event.get("capacity"),
            venue=event.get("venue"),
            next_due_at=schedule.starts_at,
            partner_links=[
                ActivityPartner(partner_id=p.id, partner=p, position=i)
                for i, p in enumerate(partners)
            ],
        )
        activity.schedule(schedule)
        return activity

    @property
    def partners(self) -> list[Partner]:
        return [link.partner for link in self.partner_links]

    @property
    def times(self) -> list[datetime]:
        """When it takes place: its start, or each occurrence of its recurrence."""
        if self.occurrences is None:
            return [self.starts_at]
        return [datetime.fromisoformat(when) for when in self.occurrences]

    def times_between(self, earliest: datetime | None, before: datetime | None) -> list[datetime]:
        """Its times in [earliest, before) (None: open)."""
        return [
            at
            for at in self.times
            if (earliest is None or at >= earliest) and (before is None or at < before)
        ]

    @classmethod
    def taking_place_between(
        cls, earliest: datetime | None, before: datetime | None
    ) -> ColumnElement[bool]:
        """SQL: activities taking place (a series: any occurrence) in [earliest, before)."""
        conditions = []
        if earliest is not None:
            conditions.append(cls.ends_at >= earliest)
        if before is not None:
            conditions.append(cls.starts_at < before)
        return and_(true(), *conditions)

    @property
    def draft(self) -> domain.ActivityDraft:
        """What approval needs to know of it."""
        return domain.ActivityDraft(
            title=self.title,
            kind=domain.ActivityKind(self.kind),
            audience_id=self.audience_id,
            message_id=self.message_id,
            channel_id=self.channel_id,
            has_event_details=self.event_format is not None and self.capacity is not None,
        )

    def schedule(self, schedule: Schedule) -> None:
        self.starts_at, self.recurrence = schedule.starts_at, schedule.recurrence
        self.ends_at = schedule.ends_at
        self.occurrences = (
            None if schedule.occurrences is None else [t.isoformat() for t in schedule.occurrences]
        )


class ActivityPartner(Base):
    __tablename__ = "activity_partners"

    activity_id: Mapped[str] = mapped_column(ForeignKey("activities.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    partner: Mapped[Partner] = relationship(lazy="joined")


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
