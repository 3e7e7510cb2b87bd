"""The contacts API: one at a time, from a CSV file (an import job), and a person's data
exported or erased."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import contacts, schemas, suppressions
from services.notifications.access import Communicator
from services.notifications.tables import (
    AudienceMember,
    ConsentRecord,
    Contact,
    ContactImport,
    ContactImportError,
    Delivery,
    Send,
)
from shared.downloads import ROWS_PER_READ, streamed_csv
from shared.errors import NotFound
from shared.http import UnitOfWorkDep, get_runtime, require_media_type
from shared.spreadsheets import spreadsheet_text
from shared.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["contacts"])


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
        [contact_id] = await contacts.save(
            uow, [body], body.audience_ids, f"api: {who.subject}"[:80], new_only=True
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
    require_media_type(request, "text/csv")
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


@router.get(
    "/contact-imports/{import_id}/errors.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def import_errors(
    import_id: str, request: Request, uow: UnitOfWorkDep, _: Communicator
) -> StreamingResponse:
    """Each refused row: its line in the file (the header is line 1) and why."""
    async with uow:
        if await uow.session.get(ContactImport, import_id) is None:
            raise NotFound(f"no contact import with id {import_id}")

    async def read_after(session: AsyncSession, after: int | None) -> list:
        rows = await session.execute(
            select(ContactImportError.line, ContactImportError.reason)
            .where(ContactImportError.import_id == import_id)
            .where(ContactImportError.line > (after or 0))
            .order_by(ContactImportError.line)
            .limit(ROWS_PER_READ)
        )
        return [(line, (line, spreadsheet_text(reason))) for line, reason in rows]

    return streamed_csv(
        f"import-{import_id}-errors.csv",
        ("line", "reason"),
        get_runtime(request).sessions,
        read_after,
    )
