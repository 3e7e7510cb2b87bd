"""Read models of the notifications service: contacts with their consent and audiences, a
person's export, the deliveries ledger, sends with their progress, imports, templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import contacts, fanout, schemas, sends, suppressions, templates
from services.notifications.domain import DeliveryStatus, SendStatus, sms_parts
from services.notifications.tables import (
    AudienceMember,
    ConsentRecord,
    Contact,
    ContactImport,
    ContactImportError,
    Delivery,
    MessageTemplate,
    Send,
    SmsStop,
)
from shared.contracts.vocabulary import ChannelKind
from shared.downloads import ROWS_PER_READ, ReadAfter
from shared.errors import NotFound
from shared.pagination import Page, fetch_page
from shared.spreadsheets import spreadsheet_text
from shared.uow import UnitOfWork

# --- contacts --------------------------------------------------------------------------------


async def get_contact(session: AsyncSession, contact_id: str) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id}")
    return contact


async def contact(session: AsyncSession, contact_id: str) -> schemas.ContactPublic:
    return await contact_public(session, await get_contact(session, contact_id))


async def contact_id_of(session: AsyncSession, email: str) -> str:
    found = await session.scalar(select(Contact.id).where(Contact.email == email.lower()))
    if found is None:
        raise NotFound("no contact with this address")
    return found


async def contact_public(session: AsyncSession, contact: Contact) -> schemas.ContactPublic:
    audience_ids = await session.scalars(
        select(AudienceMember.audience_id).where(AudienceMember.contact_id == contact.id)
    )
    consents = await session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.contact_id == contact.id)
        .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
    )
    return schemas.ContactPublic(
        id=contact.id,
        email=contact.email,
        name=contact.name,
        phone=contact.phone,
        language=contact.language,
        email_consent=contact.email_consent,
        sms_consent=contact.sms_consent,
        sms_stopped_at=await session.scalar(
            select(SmsStop.stopped_at).where(SmsStop.phone == contact.phone)
        ),
        attributes=contact.attributes,
        consent_history=[schemas.ConsentPublic.model_validate(c) for c in consents],
        audience_ids=sorted(audience_ids),
        created_at=contact.created_at,
    )


async def contact_export(uow: UnitOfWork, contact_id: str) -> schemas.ContactExport:
    """Everything kept about a person: details, consent history, audiences, each message
    sent or meant for them, and whether their address is suppressed."""
    contact = await get_contact(uow.session, contact_id)
    rows = await uow.session.execute(
        select(Delivery, Send.subject)
        .outerjoin(Send, Send.id == Delivery.send_id)
        .where((Delivery.contact_id == contact.id) | (Delivery.recipient_email == contact.email))
        .order_by(Delivery.created_at, Delivery.id)
    )
    return schemas.ContactExport(
        contact=await contact_public(uow.session, contact),
        messages=[_delivery_public(d, subject) for d, subject in rows],
        suppressed=await suppressions.reason_for(uow, contact.email_hash),
    )


# --- imports ---------------------------------------------------------------------------------


def import_public(job: ContactImport) -> schemas.ImportPublic:
    return schemas.ImportPublic.model_validate(
        {
            **{k: getattr(job, k) for k in schemas.ImportPublic.model_fields if hasattr(job, k)},
            "percent_done": contacts.progress(job),
            "errors_url": f"/v1/contact-imports/{job.id}/errors.csv",
        }
    )


async def get_import(session: AsyncSession, import_id: str) -> ContactImport:
    job = await session.get(ContactImport, import_id)
    if job is None:
        raise NotFound(f"no contact import with id {import_id}")
    return job


def import_errors_after(import_id: str) -> ReadAfter:
    """A reader of the import's refused rows (line, reason), a page after a line at a time,
    for `shared.downloads.streamed_csv`."""

    async def read_after(session: AsyncSession, after: int | None) -> list:
        rows = await session.execute(
            select(ContactImportError.line, ContactImportError.reason)
            .where(ContactImportError.import_id == import_id)
            .where(ContactImportError.line > (after or 0))
            .order_by(ContactImportError.line)
            .limit(ROWS_PER_READ)
        )
        return [(line, (line, spreadsheet_text(reason))) for line, reason in rows]

    return read_after


# --- deliveries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    activity_id: str | None = None
    plan_id: str | None = None
    event_id: str | None = None
    send_id: str | None = None
    status: DeliveryStatus | None = None

    def query(self) -> Select:
        query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
        for column, value in (
            (Delivery.activity_id, self.activity_id),
            (Delivery.plan_id, self.plan_id),
            (Delivery.event_id, self.event_id),
            (Delivery.send_id, self.send_id),
            (Delivery.status, self.status),
        ):
            if value is not None:
                query = query.where(column == value)
        return query


def _delivery_public(delivery: Delivery, send_subject: str | None) -> schemas.DeliveryPublic:
    """A send's deliveries keep no text of their own: their subject is the send's."""
    return schemas.DeliveryPublic.model_validate(delivery).model_copy(
        update={"subject": send_subject or delivery.subject}
    )


async def deliveries_page(
    session: AsyncSession, which: DeliveryFilter, *, personal: bool, limit: int, offset: int
) -> Page[schemas.DeliveryPublic]:
    """A page of the ledger. `personal`: show whom each is for, and why attempts failed in
    the mail server's own words (which may name the address)."""
    rows, total = await fetch_page(session, which.query(), limit=limit, offset=offset)
    send_ids = {d.send_id for d in rows if d.send_id}
    subjects = dict(
        (await session.execute(select(Send.id, Send.subject).where(Send.id.in_(send_ids)))).all()
    )
    items = [_delivery_public(d, subjects.get(d.send_id)) for d in rows]
    if personal:
        await _addressed(session, rows, items)
    else:
        for item in items:
            item.last_error = None
    return Page[schemas.DeliveryPublic](items=items, total=total, limit=limit, offset=offset)


async def _addressed(
    session: AsyncSession, rows: Sequence[Delivery], items: list[schemas.DeliveryPublic]
) -> None:
    """Each delivery's `to`: its contact's (as they are now), or its attendee's."""
    found = await session.execute(
        select(Contact.id, Contact.name, Contact.email, Contact.phone).where(
            Contact.id.in_({d.contact_id for d in rows if d.contact_id})
        )
    )
    contacts = {row.id: row for row in found}
    for delivery, item in zip(rows, items, strict=True):
        if (contact := contacts.get(delivery.contact_id or "")) is not None:
            address = contact.phone if delivery.channel == ChannelKind.SMS else contact.email
            item.to = f"{contact.name} <{address}>" if address else contact.name
        elif delivery.recipient_email:
            item.to = f"{delivery.recipient_name} <{delivery.recipient_email}>"


# --- sends -----------------------------------------------------------------------------------


async def get_send(uow: UnitOfWork, send_id: str) -> schemas.SendPublic:
    send = await uow.session.get(Send, send_id)
    if send is None:
        raise NotFound(f"no send with id {send_id}")
    return await send_public(uow, send)


async def send_public(uow: UnitOfWork, send: Send) -> schemas.SendPublic:
    """A send with its deliveries counted by status, and how far it has come (before its
    fan-out ends, against whom its audience or segment reaches now)."""
    counts = schemas.SendCounts(**await sends.counts(uow, send.id))
    written = sum(counts.model_dump().values())
    recipients = written
    if not send.fanned_out and send.status != SendStatus.CANCELLED:
        expected = send.recipients
        if expected is None:  # not started: as its audience stands now
            expected = await fanout.count(uow.session, send)
        recipients = max(written, expected)
    done = written - counts.pending
    return schemas.SendPublic.model_validate(
        {
            **{k: getattr(send, k) for k in schemas.SendPublic.model_fields if hasattr(send, k)},
            "recipients": recipients,
            "counts": counts,
            "percent_done": round(100 * done / recipients, 1) if recipients else 100.0,
            "sms_parts": sms_parts(send.body) if send.channel == ChannelKind.SMS else None,
        }
    )


async def sends_page(
    uow: UnitOfWork,
    *,
    activity_id: str | None,
    plan_id: str | None,
    status: SendStatus | None,
    limit: int,
    offset: int,
) -> Page[schemas.SendPublic]:
    query = select(Send).order_by(Send.scheduled_for, Send.id)
    for column, value in (
        (Send.activity_id, activity_id),
        (Send.plan_id, plan_id),
        (Send.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, total = await fetch_page(uow.session, query, limit=limit, offset=offset)
    items = [await send_public(uow, send) for send in rows]
    return Page[schemas.SendPublic](items=items, total=total, limit=limit, offset=offset)


# --- templates -------------------------------------------------------------------------------


async def templates_listed(session: AsyncSession) -> list[schemas.TemplatePublic]:
    """The saved templates, and the built-in ones no saved one replaces."""
    saved = list(await session.scalars(select(MessageTemplate)))
    listed = [template_public(t.name, t.language, t, built_in=False) for t in saved]
    replaced = {(t.name, t.language) for t in saved}
    listed += [
        template_public(templates.STANDARD, language, t, built_in=True)
        for language, t in templates.BUILT_IN.items()
        if (templates.STANDARD, language) not in replaced
    ]
    return sorted(listed, key=lambda t: (t.name, t.language))


def template_public(
    name: str, language: str, t: MessageTemplate | templates.Template, *, built_in: bool
) -> schemas.TemplatePublic:
    return schemas.TemplatePublic(
        name=name,
        language=language,
        subject=t.subject,
        text=t.text,
        html=t.html,
        built_in=built_in,
    )
