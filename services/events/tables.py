"""The events database: events, registrations, and the outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime
from shared.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()


class Event(Base):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # set when the event came from an approved activity of a plan; an organiser's own has none
    activity_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    plan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(300))
    accessibility: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="da")
    partners: Mapped[list[str]] = mapped_column(JSON, default=list)  # co-organisers' names
    # registration only through a personal invitation's link
    invitation_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Invitation(Base):
    """A named person invited to an event, and their answer (yes registers them)."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("event_id", "email", name="uq_invitations_event_email"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2))
    answer: Mapped[str | None] = mapped_column(String(10))  # yes, no, maybe
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registration_id: Mapped[str | None] = mapped_column(ForeignKey("registrations.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def erased(self) -> bool:
        return self.email.startswith("erased:")


class Registration(Base):
    """One person's registration for an event, and its place: confirmed, waitlisted, offered
    a seat, expired or cancelled. Erasure blanks the person and keeps the row (the counts)."""

    __tablename__ = "registrations"
    __table_args__ = (
        # what a registration reads under its event's lock: counts by status, "is this
        # address registered", the end of the line — each an index range, never a scan
        Index("ix_registrations_event_status", "event_id", "status", "hold_expires_at"),
        Index("ix_registrations_event_email", "event_id", "email"),
        Index("ix_registrations_event_position", "event_id", "position", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    organisation: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2))
    consent_text: Mapped[str] = mapped_column(Text)
    consented_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(32), unique=True)  # the check-in (QR) code
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # the order of the waitlist: who registered first (a counter, not a clock: ties are none)
    position: Mapped[int] = mapped_column(Integer)


class EventTimer(Base):
    """A message of an event that falls due at a time: a reminder, the survey request. Kept
    in the database so it survives restarts; fired once (`fired_at`), by one replica, in
    rounds for a big event: `sent_through` is the position of the last registration whose
    message is out (committed with it, so a restart neither skips nor repeats anyone)."""

    __tablename__ = "event_timers"

    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)  # reminder:7, survey
    due_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_through: Mapped[int | None] = mapped_column(Integer)


class ProgrammeSession(Base):
    """A slot of an event's programme: a talk, a panel, a workshop — in a room, at a time,
    with an optional cap on how many may sign up for it."""

    __tablename__ = "programme_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    room: Mapped[str | None] = mapped_column(String(200))
    capacity: Mapped[int | None] = mapped_column(Integer)


class SessionPerson(Base):
    """Someone on a session's stage: a speaker, a panellist or the moderator."""

    __tablename__ = "session_people"

    session_id: Mapped[str] = mapped_column(ForeignKey("programme_sessions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    bio: Mapped[str] = mapped_column(Text, default="")


class SessionSignup(Base):
    """A registrant's place in a session with a cap, taken with their registration."""

    __tablename__ = "session_signups"

    session_id: Mapped[str] = mapped_column(ForeignKey("programme_sessions.id"), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("registrations.id"), primary_key=True)
