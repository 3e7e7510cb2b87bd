"""The notifications service's HTTP API: contacts and their imports, sends and their
deliveries, bounces."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from services.notifications import bounces, contacts, schemas, sends, suppressions, templates
from services.notifications.domain import DeliveryStatus, SendStatus
from services.notifications.tables import (
    AudienceMember,
    ConsentRecord,
    Contact,
    ContactImport,
    ContactImportError,
    Delivery,
    MessageTemplate,
    Send,
)
from shared.auth import Principal, Role, require_roles
from shared.errors import Conflict, NotFound, RuleViolation
from shared.http import UnitOfWorkDep
from shared.pagination import Limit, Offset, Page, fetch_page
from shared.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["notifications"])

Communicator = Annotated[Principal, require_roles(Role.COMMUNICATOR)]
DeliveryReader = Annotated[Principal, require_roles(Role.COMMUNICATOR, Role.ANALYST)]
MAY_SEE_CONTACTS = {Role.COMMUNICATOR.value, Role.ADMIN.value}


async def _public(uow: UnitOfWork, contact: Contact) -> schemas.ContactPublic:
    audience_ids = await uow.session.scalars(
        select(AudienceMember.audience_id).where(AudienceMember.contact_id == contact.id)
    )
    consents = await uow.session.scalars(
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
        consent_history=[schemas.ConsentPublic.model_validate(c) for c in consents],
        audience_ids=sorted(audience_ids),
        created_at=contact.created_at,
    )


@router.post("/contacts", status_code=status.HTTP_201_CREATED, response_model=schemas.ContactPublic)
async def create_contact(
    body: schemas.ContactCreate, uow: UnitOfWorkDep, who: Communicator, response: Response
) -> schemas.ContactPublic:
    async with uow:
        email = body.email.lower()
        if await uow.session.scalar(select(Contact.id).where(Contact.email == email)):
            raise Conflict(f"a contact with e-mail {email} exists already")
        [contact_id] = await contacts.save(
            uow, [body], body.audience_ids, f"api: {who.subject}"[:80]
        )
        await uow.commit()
        public = await _public(uow, await uow.session.get_one(Contact, contact_id))
    response.headers["Location"] = f"/v1/contacts/{contact_id}"
    return public


@router.get("/contacts/{contact_id}", response_model=schemas.ContactPublic)
async def get_contact(
    contact_id: str, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactPublic:
    """A contact's personal data and consent history: for communicators (and admins) only."""
    async with uow:
        contact = await uow.session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"no contact with id {contact_id}")
        return await _public(uow, contact)


@router.get("/contacts/{contact_id}/export", response_model=schemas.ContactExport)
async def export_contact(
    contact_id: str, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactExport:
    """Everything kept about a person, for their access request (GDPR art. 15): their
    details, consent history, audiences, each message sent or meant for them, and whether
    their address is suppressed."""
    async with uow:
        contact = await uow.session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"no contact with id {contact_id}")
        rows = await uow.session.execute(
            select(Delivery, Send.subject)
            .outerjoin(Send, Send.id == Delivery.send_id)
            .where(
                (Delivery.contact_id == contact.id) | (Delivery.recipient_email == contact.email)
            )
            .order_by(Delivery.created_at, Delivery.id)
        )
        messages = [
            schemas.DeliveryPublic.model_validate(d).model_copy(
                update={"subject": subject or d.subject}
            )
            for d, subject in rows
        ]
        return schemas.ContactExport(
            contact=await _public(uow, contact),
            messages=messages,
            suppressed=await suppressions.reason_for(uow, contact.email_hash),
        )


@router.delete("/contacts/{contact_id}", response_model=schemas.Erased)
async def erase_contact(contact_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.Erased:
    """Erase a person (GDPR art. 17): their contact, consent history and memberships; the
    ledger keeps that messages went, not to whom; the events service erases their
    registrations too (told by `contact.erased.v1`, which names only a hash)."""
    async with uow:
        contact = await uow.session.get(Contact, contact_id, with_for_update=True)
        if contact is None:
            raise NotFound(f"no contact with id {contact_id}")
        kept = await contacts.erase(uow, contact)
        await uow.commit()
    return schemas.Erased(deliveries_kept_without_recipient=kept)


def _import_public(job: ContactImport) -> schemas.ImportPublic:
    return schemas.ImportPublic.model_validate(
        {
            **{k: getattr(job, k) for k in schemas.ImportPublic.model_fields if hasattr(job, k)},
            "percent_done": contacts.progress(job),
            "errors_url": f"/v1/contact-imports/{job.id}/errors.csv",
        }
    )


@router.post(
    "/contact-imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.ImportPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_contacts(
    request: Request,
    uow: UnitOfWorkDep,
    who: Communicator,
    response: Response,
    audience_id: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
) -> schemas.ImportPublic:
    """Import contacts from a CSV file (`text/csv`: UTF-8 or Windows-1252; comma, semicolon or
    tab): columns email, name and consent (ja/nej, yes/no), optionally phone and language
    (da/en), in Danish or English. The header is checked now; the rows are imported in the
    background: follow `Location` for progress, and `errors_url` for each refused row's line
    and reason. An existing address is updated; everyone joins the `audience_id`s."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/csv":
        raise HTTPException(415, "post the file as text/csv")
    async with uow:
        job = await contacts.start_import(
            uow, await request.body(), audience_id, f"import by {who.subject}"[:80]
        )
        await uow.commit()
    response.headers["Location"] = f"/v1/contact-imports/{job.id}"
    return _import_public(job)


@router.get("/contact-imports/{import_id}", response_model=schemas.ImportPublic)
async def get_import(import_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.ImportPublic:
    async with uow:
        job = await uow.session.get(ContactImport, import_id)
        if job is None:
            raise NotFound(f"no contact import with id {import_id}")
        return _import_public(job)


@router.get("/contact-imports/{import_id}/errors.csv", response_class=PlainTextResponse)
async def import_errors(import_id: str, uow: UnitOfWorkDep, _: Communicator) -> PlainTextResponse:
    """Each refused row: its line in the file (the header is line 1) and why."""
    async with uow:
        if await uow.session.get(ContactImport, import_id) is None:
            raise NotFound(f"no contact import with id {import_id}")
        errors = await uow.session.execute(
            select(ContactImportError.line, ContactImportError.reason)
            .where(ContactImportError.import_id == import_id)
            .order_by(ContactImportError.line)
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["line", "reason"])
        writer.writerows(errors)
    return PlainTextResponse(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'},
    )


@router.get("/deliveries", response_model=Page[schemas.DeliveryPublic])
async def list_deliveries(
    uow: UnitOfWorkDep,
    reader: DeliveryReader,
    activity_id: str | None = None,
    plan_id: str | None = None,
    event_id: str | None = None,
    send_id: str | None = None,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.DeliveryPublic]:
    """Deliveries, for communicators and analysts. Why an attempt failed is in the mail
    server's own words, which may name the address: only communicators (and admins) see it."""
    query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
    if activity_id is not None:
        query = query.where(Delivery.activity_id == activity_id)
    if plan_id is not None:
        query = query.where(Delivery.plan_id == plan_id)
    if event_id is not None:
        query = query.where(Delivery.event_id == event_id)
    if send_id is not None:
        query = query.where(Delivery.send_id == send_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    async with uow:
        rows, total = await fetch_page(uow.session, query, limit=limit, offset=offset)
        send_ids = {d.send_id for d in rows if d.send_id}
        subjects = dict((await uow.session.execute(
            select(Send.id, Send.subject).where(Send.id.in_(send_ids))
        )).all())  # fmt: skip
    items = [
        schemas.DeliveryPublic.model_validate(d).model_copy(
            update={"subject": subjects.get(d.send_id, d.subject)}
        )
        for d in rows
    ]
    if not reader.roles & MAY_SEE_CONTACTS:
        for item in items:
            item.last_error = None
    return Page[schemas.DeliveryPublic](items=items, total=total, limit=limit, offset=offset)


async def _send_public(uow: UnitOfWork, send: Send) -> schemas.SendPublic:
    counts = schemas.SendCounts(**await sends.counts(uow, send.id))
    written = sum(counts.model_dump().values())
    recipients = written
    if not send.fanned_out and send.status != SendStatus.CANCELLED:
        recipients = max(written, await _audience_size(uow, send.audience_id))
    done = written - counts.pending
    return schemas.SendPublic.model_validate(
        {
            **{k: getattr(send, k) for k in schemas.SendPublic.model_fields if hasattr(send, k)},
            "recipients": recipients,
            "counts": counts,
            "percent_done": round(100 * done / recipients, 1) if recipients else 100.0,
        }
    )


async def _audience_size(uow: UnitOfWork, audience_id: str | None) -> int:
    return (
        await uow.session.scalar(
            select(func.count())
            .select_from(AudienceMember)
            .join(Contact, Contact.id == AudienceMember.contact_id)
            .where(AudienceMember.audience_id == audience_id, Contact.email_consent.is_(True))
        )
        or 0
    )


@router.post("/sends", status_code=status.HTTP_201_CREATED, response_model=schemas.SendPublic)
async def create_send(
    body: schemas.SendCreate, uow: UnitOfWorkDep, _: Communicator, response: Response
) -> schemas.SendPublic:
    """Send a message to an audience's consenting contacts, now or at `scheduled_for`; watch
    its progress at the send's address."""
    async with uow:
        if await templates.find(uow.session, body.template, "da") is None:
            raise RuleViolation(f"there is no template {body.template!r} in Danish")
        now = uow.now()
        send = sends.new_send(
            audience_id=body.audience_id,
            channel=body.channel,
            subject=body.subject,
            body=body.body,
            template=body.template,
            at=body.scheduled_for or now,
            now=now,
        )
        uow.session.add(send)
        await uow.commit()
        public = await _send_public(uow, send)
    response.headers["Location"] = f"/v1/sends/{send.id}"
    return public


@router.get("/sends", response_model=Page[schemas.SendPublic])
async def list_sends(
    uow: UnitOfWorkDep,
    _: DeliveryReader,
    activity_id: str | None = None,
    plan_id: str | None = None,
    status: SendStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.SendPublic]:
    query = select(Send).order_by(Send.scheduled_for, Send.id)
    if activity_id is not None:
        query = query.where(Send.activity_id == activity_id)
    if plan_id is not None:
        query = query.where(Send.plan_id == plan_id)
    if status is not None:
        query = query.where(Send.status == status)
    async with uow:
        rows, total = await fetch_page(uow.session, query, limit=limit, offset=offset)
        items = [await _send_public(uow, send) for send in rows]
    return Page[schemas.SendPublic](items=items, total=total, limit=limit, offset=offset)


@router.get("/sends/{send_id}", response_model=schemas.SendPublic)
async def get_send(send_id: str, uow: UnitOfWorkDep, _: DeliveryReader) -> schemas.SendPublic:
    """A send with its deliveries counted by status, and how far it has come."""
    async with uow:
        send = await uow.session.get(Send, send_id)
        if send is None:
            raise NotFound(f"no send with id {send_id}")
        return await _send_public(uow, send)


@router.post("/sends/{send_id}/resend-failed", response_model=schemas.Requeued)
async def resend_failed(send_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.Requeued:
    """Send the send's failed deliveries again — only those; who got it already is left be."""
    async with uow:
        send = await sends.get_locked(uow, send_id)
        requeued = await sends.resend_failed(uow, send)
        await uow.commit()
    return schemas.Requeued(requeued=requeued)


@router.post("/sends/{send_id}/cancel", response_model=schemas.SendPublic)
async def cancel_send(send_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.SendPublic:
    """Stop a send: nothing pending goes out any more. A completed send stays as it was."""
    async with uow:
        send = await sends.get_locked(uow, send_id)
        if send.status == SendStatus.COMPLETED:
            raise Conflict("the send is completed: there is nothing left to cancel")
        await sends.cancel(uow, send)
        await uow.commit()
        return await _send_public(uow, send)


@router.post("/bounces", response_model=schemas.BounceResult)
async def report_bounce(
    body: schemas.ProviderReport, uow: UnitOfWorkDep, _: Communicator
) -> schemas.BounceResult:
    """A mail provider's bounce or complaint webhook (Postmark's JSON shape): a hard bounce or
    a complaint suppresses the address in every later send."""
    report = bounces.from_provider(body.record_type, body.type, body.email, body.message_id)
    async with uow:
        result = await bounces.take(uow, [report])
        await uow.commit()
    return schemas.BounceResult(**result)


@router.post(
    "/bounces/dsn",
    response_model=schemas.BounceResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def report_dsn(request: Request, uow: UnitOfWorkDep, _: Communicator) -> schemas.BounceResult:
    """A delivery status notification e-mail (RFC 3464) as the mail server returned it, posted
    as `message/rfc822`: each recipient it reports failed for good (5.x.x) is suppressed."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "message/rfc822":
        raise HTTPException(415, "post the report e-mail as message/rfc822")
    reports = bounces.from_dsn(await request.body())
    if not reports:
        raise RuleViolation("this e-mail is not a delivery status notification (RFC 3464)")
    async with uow:
        result = await bounces.take(uow, reports)
        await uow.commit()
    return schemas.BounceResult(**result)


@router.get("/templates", response_model=list[schemas.TemplatePublic])
async def list_templates(uow: UnitOfWorkDep, _: DeliveryReader) -> list[schemas.TemplatePublic]:
    """The saved templates, and the built-in ones no saved one replaces."""
    async with uow:
        saved = list(await uow.session.scalars(select(MessageTemplate)))
    listed = [
        schemas.TemplatePublic(
            name=t.name, language=t.language, subject=t.subject, text=t.text, html=t.html,
            built_in=False,
        )
        for t in saved
    ]  # fmt: skip
    replaced = {(t.name, t.language) for t in saved}
    for language, t in templates.BUILT_IN.items():
        if (templates.STANDARD, language) not in replaced:
            listed.append(
                schemas.TemplatePublic(
                    name=templates.STANDARD, language=language, subject=t.subject, text=t.text,
                    html=t.html, built_in=True,
                )
            )  # fmt: skip
    return sorted(listed, key=lambda t: (t.name, t.language))


@router.put("/templates/{name}/{language}", response_model=schemas.TemplatePublic)
async def save_template(
    name: schemas.TemplateName,
    language: Literal["da", "en"],
    body: schemas.TemplateBody,
    uow: UnitOfWorkDep,
    _: Communicator,
) -> schemas.TemplatePublic:
    """Save a template in one language (a new one, or a new version); it is checked first:
    it must parse and use only the variables a message has."""
    templates.check(templates.Template(body.subject, body.text, body.html))
    async with uow:
        row = await uow.session.get(MessageTemplate, (name, language))
        if row is None:
            row = MessageTemplate(name=name, language=language)
            uow.session.add(row)
        row.subject, row.text, row.html, row.updated_at = (
            body.subject, body.text, body.html, uow.now(),
        )  # fmt: skip
        await uow.commit()
    return schemas.TemplatePublic(
        name=name, language=language, subject=body.subject, text=body.text, html=body.html,
        built_in=False,
    )  # fmt: skip


@router.post("/templates/preview", response_model=schemas.Preview)
async def preview_template(body: schemas.TemplateBody, _: DeliveryReader) -> schemas.Preview:
    """A template rendered with sample data (a contact, a message, an unsubscribe link), as
    it would be sent; a template that cannot be sent is a 422 saying why."""
    template = templates.Template(body.subject, body.text, body.html)
    templates.check(template)
    rendered = templates.render(template, templates.SAMPLE)
    return schemas.Preview(subject=rendered.subject, text=rendered.text, html=rendered.html)
