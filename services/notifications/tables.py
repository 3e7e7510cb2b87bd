"""The notifications database: contacts, audience membership, deliveries, outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import UtcDateTime
from shared.tables import service_base

Base = service_base()


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email_consent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AudienceMember(Base):
    """A contact's membership of a planning audience (known here by its id)."""

    __tablename__ = "audience_members"

    audience_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)


class Delivery(Base):
    """One message to one person: an issue of a communication activity to a contact, or a
    message about an event to one of its attendees (`kind`; addressed by `recipient_*`).
    The ledger of who was sent what, and whether it went."""

    __tablename__ = "deliveries"
    # one e-mail per contact and occurrence of the activity
    __table_args__ = (
        UniqueConstraint(
            "activity_id", "contact_id", "scheduled_for", name="uq_deliveries_occurrence"
        ),
        UniqueConstraint("dedupe_key", name="uq_deliveries_dedupe_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), default="activity", server_default="activity")
    activity_id: Mapped[str | None] = mapped_column(String(36), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    # an attendee's message: to whom, about which event, and once per person and kind
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[str | None] = mapped_column(Text)  # an .ics for the person's calendar
    channel: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_for: Mapped[datetime] = mapped_column(
        UtcDateTime
    )  # the activity's (occurrence's) time
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
