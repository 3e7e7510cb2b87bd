"""The planning database: the organisation's audiences and partners, plan versions,
stakeholders, projections of other services' events, and the outbox/inbox (see
shared.tables). The plan and the strategy are mapped with their rules, in `plans.model` and
`strategies.model`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime
from shared.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()


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


class Partner(Base):
    """A co-organiser of activities and events, shared by the organisation's plans (KL, a union,
    a university)."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PlanVersion(Base):
    """The plan as it was after each change: every revision is a version."""

    __tablename__ = "plan_versions"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[str] = mapped_column(String(300))
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    snapshot: Mapped[dict] = mapped_column(JSON)


class ActivityOutcome(Base):
    """Projection of what other services did with an activity (their events, not their tables)."""

    __tablename__ = "activity_outcomes"

    activity_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[str | None] = mapped_column(String(36))
    # the event as the events service reports it: published, moved, cancelled, held
    event_status: Mapped[str | None] = mapped_column(String(20))
    event_starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_confirmed: Mapped[int | None] = mapped_column(Integer)  # final, once it was held
    event_checked_in: Mapped[int | None] = mapped_column(Integer)
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
