"""The notifications database: contacts, audience membership, sends and their deliveries
(the per-recipient ledger), suppressed addresses, outbox/inbox (see shared.tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime
from shared.tables import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata()


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # what suppressions are keyed on: a suppression outlives the contact and their address
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # a reply finds them by it
    language: Mapped[str] = mapped_column(String(2), default="da", server_default="da")
    email_consent: Mapped[bool] = mapped_column(Boolean)  # now; its history: consent_records
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # what segments select by: e.g. {"kommune": "Aarhus", "rolle": "jobcenterchef"}
    attributes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsentRecord(Base):
    """Each time a contact's consent to a channel was given or withdrawn, where it came from
    (the API, an import) and when: what GDPR art. 7(1) asks us to show."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ContactImport(Base):
    """A CSV of contacts, imported in chunks by a background job: `next_line` is where it
    goes on (committed with each chunk), so a restart neither skips nor repeats rows."""

    __tablename__ = "contact_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    audience_ids: Mapped[list[str]] = mapped_column(JSON)
    # the file's columns kept as attributes (the others are left out), by their plain names
    attribute_columns: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    source: Mapped[str] = mapped_column(String(80))
    content: Mapped[str] = mapped_column(Text)  # the file, decoded
    status: Mapped[str] = mapped_column(String(20), index=True)
    total_rows: Mapped[int] = mapped_column(Integer)
    next_line: Mapped[int] = mapped_column(Integer)  # the file's line to read next (header: 1)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ContactImportError(Base):
    """A row an import could not take: its line in the file and why."""

    __tablename__ = "contact_import_errors"

    import_id: Mapped[str] = mapped_column(ForeignKey("contact_imports.id"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(300))


class AudienceList(Base):
    """What an audience (a list, known here by planning's id) is sent on: the contacts'
    consent, or the authority's public task (GDPR art. 6(1)(e)), which needs none. An
    audience without a row is sent on consent."""

    __tablename__ = "audience_lists"

    audience_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lawful_basis: Mapped[str] = mapped_column(String(20))
    basis_note: Mapped[str] = mapped_column(String(300), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BasisRecord(Base):
    """Each time an audience's lawful basis was set, by whom and when: what the authority
    must be able to show it sent on (GDPR art. 5(2))."""

    __tablename__ = "audience_basis_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audience_id: Mapped[str] = mapped_column(String(36), index=True)
    lawful_basis: Mapped[str] = mapped_column(String(20))
    basis_note: Mapped[str] = mapped_column(String(300))
    set_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Segment(Base):
    """An audience's contacts chosen by rules over their attributes (all must hold): worked
    out when a send to it is fanned out, so it is never out of date."""

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    audience_id: Mapped[str] = mapped_column(String(36))
    rules: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AudienceMember(Base):
    """A contact's membership of a planning audience (known here by its id)."""

    __tablename__ = "audience_members"

    audience_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), primary_key=True)


class Send(Base):
    """One message to an audience: an issue of a communication activity, or one made through
    the API. Its deliveries are written in pages as its time comes (`fanned_out_to` is the
    last contact written, committed with the page), so a crash resumes where it stopped."""

    __tablename__ = "sends"
    __table_args__ = (UniqueConstraint("activity_id", "scheduled_for", name="uq_sends_occurrence"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    activity_id: Mapped[str | None] = mapped_column(String(36), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(36))
    audience_id: Mapped[str | None] = mapped_column(String(36))  # None: sent before sends were kept
    segment_id: Mapped[str | None] = mapped_column(String(36))  # or to a segment's contacts
    # what it was sent on (consent, public_task): fixed when its fan-out starts
    lawful_basis: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(String(60), default="standard", server_default="standard")
    status: Mapped[str] = mapped_column(String(20), index=True)
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)
    fanned_out_to: Mapped[str | None] = mapped_column(String(36))
    # counted once, as its fan-out starts: its progress is measured against it until the
    # fan-out ends (counting a million-contact audience at each look took seconds)
    recipients: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # its deliveries by status, changed with them (see sends.moved): counting a ledger of a
    # million rows each time someone looks at a running send took seconds
    count_pending: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    count_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    count_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    count_suppressed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    count_bounced: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    count_cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MessageTemplate(Base):
    """A template of the e-mails of sends, in one language (see templates.py)."""

    __tablename__ = "templates"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    language: Mapped[str] = mapped_column(String(2), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Webhook(Base):
    """A system subscribed to an audience's messages: a send to the audience on the webhook
    channel is posted to `url`, signed with `secret` the Standard Webhooks way."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    audience_id: Mapped[str] = mapped_column(String(36), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_ and base64
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Suppression(Base):
    """An address no send may mail: unsubscribed, hard-bounced or complained. Keyed on the
    address's hash, so it holds after the contact is erased or imported again."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsStop(Base):
    """A number that replied STOP to a text (and not START since): no send texts it, on any
    basis, whoever has it on record now or later; no import or API call gives it SMS consent.
    Kept after an erasure: forgetting the number would be texting it again."""

    __tablename__ = "sms_stops"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164, as contacts'
    stopped_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(80))  # which reply


class SmsReplyTaken(Base):
    """A STOP or START reply acted on, by the gateway's id: the same reply posted again (a
    gateway's retry, or a replay of a signed one) changes nothing."""

    __tablename__ = "sms_replies_taken"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """One message to one person: a send's message to one of its contacts (its text is the
    send's), or a message about an event to one of its attendees (`kind`; addressed by
    `recipient_*`, its own text). The ledger of who was sent what, and whether it went.

    `attempts` counts attempts as they start: a crash after handing a message to the mail
    server shows as a second attempt, the mark of a possible second copy."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "contact_id", "channel", name="uq_deliveries_recipient"),
        # a send's post to a system, once; partial: a contact's delivery (most of a million)
        # is not written into it
        Index(
            "uq_deliveries_webhook",
            "send_id",
            "webhook_id",
            unique=True,
            sqlite_where=text("webhook_id IS NOT NULL"),
            postgresql_where=text("webhook_id IS NOT NULL"),
        ),
        UniqueConstraint("dedupe_key", name="uq_deliveries_dedupe_key"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_send_status", "send_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), default="activity", server_default="activity")
    send_id: Mapped[str | None] = mapped_column(
        ForeignKey("sends.id", name="fk_deliveries_send_id")
    )
    activity_id: Mapped[str | None] = mapped_column(String(36), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(36))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    webhook_id: Mapped[str | None] = mapped_column(String(36))  # a send's post to a system
    # an attendee's message: to whom, about which event, and once per person and kind
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[str | None] = mapped_column(Text)  # an .ics for the person's calendar
    channel: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(300))  # a send's deliveries: the send's
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)  # or the end of its lease
    lease: Mapped[str | None] = mapped_column(String(36))  # the sender that holds it now
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SurveyGate(Base):
    """Which survey of an event takes answers (from survey.opened.v1 until survey.closed.v1;
    none: `survey_id` is null): the event's survey e-mails wait for one, so nobody is sent a
    link to no survey. Each request, opening and closing locks the event's row first, so
    they take turns even on different replicas and none misses another's e-mails."""

    __tablename__ = "survey_gates"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survey_id: Mapped[str | None] = mapped_column(String(36))
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
