"""The contacts API: one at a time, from a CSV file (an import job), and a person's data
exported or erased."""

from __future__ import annotations

from typing import Annotated

import jwt
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from services.notifications import contacts, queries, schemas, sms_replies
from services.notifications.access import Communicator
from services.notifications.domain import sms_keyword
from services.notifications.segments import attribute_name
from shared.downloads import streamed_csv
from shared.errors import RuleViolation
from shared.http import UnitOfWorkDep, get_runtime, require_media_type
from shared.logging import get_logger

router = APIRouter(prefix="/v1", tags=["contacts"])
log = get_logger(__name__)


@router.post("/contacts", status_code=status.HTTP_201_CREATED, response_model=schemas.ContactPublic)
async def create_contact(
    body: schemas.ContactCreate, uow: UnitOfWorkDep, who: Communicator, response: Response
) -> schemas.ContactPublic:
    async with uow:
        _, refused = await contacts.against_records(uow, [(0, body)], phones_given=True)
        if refused:
            raise RuleViolation(refused[0][1])
        [contact_id] = await contacts.save(
            uow, [body], body.audience_ids, f"api: {who.subject}"[:80], new_only=True
        )
        await uow.commit()
        public = await queries.contact(uow.session, contact_id)
    response.headers["Location"] = f"/v1/contacts/{contact_id}"
    return public


@router.get("/contacts/{contact_id}", response_model=schemas.ContactPublic)
async def get_contact(
    contact_id: str, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactPublic:
    """A contact's personal data and consent history: for communicators (and admins) only."""
    async with uow:
        return await queries.contact(uow.session, contact_id)


@router.post("/sms/replies", response_model=schemas.SmsReplyResult, tags=["sms"])
async def sms_reply(
    reply: schemas.SmsReply,
    request: Request,
    uow: UnitOfWorkDep,
    x_gwapi_signature: Annotated[str, Header(description="A JWT, HS256: the gateway's")] = "",
) -> schemas.SmsReplyResult:
    """A text a person sent back, forwarded by the SMS gateway (GatewayAPI's MO webhook).
    The gateway signs the reply itself: a JWT (HS256, `NOTIFICATIONS_SMS_REPLY_SECRET`)
    whose claims are the reply's fields; a body that differs from them is refused. One that
    starts with STOP (or AFMELD, FRAMELD, STOPP, UNSUBSCRIBE; any case; after a keyword, as
    on a shared number) stops texts to that number: every contact with it loses their SMS
    consent, and no send texts it again, on any lawful basis, whoever has or gets the
    number on record. START (or TILMELD) from the number lifts that and gives its contacts
    SMS consent. Each reply is acted on once: the same reply again (a retry, or a replay)
    changes nothing and says `repeated`. Other replies change nothing."""
    secret = get_runtime(request).settings.sms_reply_secret
    if secret is None:
        log.warning("sms reply refused", reason="no NOTIFICATIONS_SMS_REPLY_SECRET")
        raise HTTPException(503, "SMS replies are not taken: no NOTIFICATIONS_SMS_REPLY_SECRET")
    try:
        claims = jwt.decode(x_gwapi_signature, secret.get_secret_value(), algorithms=["HS256"])
        signed = schemas.SmsReply.model_validate(claims)
    except (jwt.InvalidTokenError, ValidationError):
        signed = None
    if signed is None or (signed.id, signed.msisdn, signed.message) != (
        reply.id,
        reply.msisdn,
        reply.message,
    ):
        log.warning("sms reply refused", reason="not signed by the gateway", reply_id=reply.id)
        raise HTTPException(401, "the reply is not the one signed with the gateway's secret")
    keyword = sms_keyword(reply.message)
    if keyword is None:
        return schemas.SmsReplyResult()
    async with uow:
        taken = await sms_replies.take(uow, reply.id, reply.msisdn, keyword)
        await uow.commit()
    log.info("sms reply taken", reply_id=reply.id, keyword=keyword, repeated=taken.repeated)
    return schemas.SmsReplyResult(
        stopped=taken.stopped, resumed=taken.resumed, repeated=taken.repeated
    )


@router.post("/contacts/export", response_model=schemas.ContactExport)
async def export_person(
    who: schemas.PersonQuery, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactExport:
    """A person's request starts from their address, not our id: everything kept about the
    contact with this address (any case), as `GET /v1/contacts/{id}/export`; 404 if none."""
    async with uow:
        contact_id = await queries.contact_id_of(uow.session, who.email)
        return await queries.contact_export(uow, contact_id)


@router.post("/contacts/erase", response_model=schemas.Erased)
async def erase_person(
    who: schemas.PersonQuery, uow: UnitOfWorkDep, _: Communicator
) -> schemas.Erased:
    """Erase the contact with this address (any case), as `DELETE /v1/contacts/{id}`; 404
    if none."""
    async with uow:
        contact_id = await queries.contact_id_of(uow.session, who.email)
        kept = await contacts.erase(uow, contact_id)
        await uow.commit()
    return schemas.Erased(deliveries_kept_without_recipient=kept)


@router.get("/contacts/{contact_id}/export", response_model=schemas.ContactExport)
async def export_contact(
    contact_id: str, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactExport:
    """Everything kept about a person, for their access request (GDPR art. 15): their
    details, consent history, audiences, each message sent or meant for them, and whether
    their address is suppressed."""
    async with uow:
        return await queries.contact_export(uow, contact_id)


@router.delete("/contacts/{contact_id}", response_model=schemas.Erased)
async def erase_contact(contact_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.Erased:
    """Erase a person (GDPR art. 17): their contact, consent history and memberships; the
    ledger keeps that messages went, not to whom; the events service erases their
    registrations too (told by `contact.erased.v1`, which names only a hash)."""
    async with uow:
        kept = await contacts.erase(uow, contact_id)
        await uow.commit()
    return schemas.Erased(deliveries_kept_without_recipient=kept)


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
    attribute: Annotated[list[str], Query(max_length=contacts.MAX_ATTRIBUTES)] = [],  # noqa: B006
) -> schemas.ImportPublic:
    """Import contacts from a CSV file (`text/csv`: UTF-8 or Windows-1252; comma, semicolon or
    tab): columns email, name and consent (ja/nej, yes/no), optionally phone, language
    (da/en) and sms_consent, in Danish or English; and each column named in `attribute`
    (e.g. `attribute=Kommune`), kept as the contacts' attribute of that name made plain
    (kommune). Other columns are left out. The header is checked now; the rows are imported
    in the background: follow `Location` for progress, and `errors_url` for each refused
    row's line and reason. An existing address is updated; everyone joins the
    `audience_id`s."""
    require_media_type(request, "text/csv")
    names = frozenset(attribute_name(a) for a in attribute)
    if "" in names:
        raise RuleViolation("an attribute column needs a name of letters or digits")
    async with uow:
        job = await contacts.start_import(
            uow, await request.body(), audience_id, f"import by {who.subject}"[:80], names
        )
        await uow.commit()
    response.headers["Location"] = f"/v1/contact-imports/{job.id}"
    return queries.import_public(job)


@router.get("/contact-imports/{import_id}", response_model=schemas.ImportPublic)
async def get_import(import_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.ImportPublic:
    async with uow:
        return queries.import_public(await queries.get_import(uow.session, import_id))


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
        await queries.get_import(uow.session, import_id)
    return streamed_csv(
        f"import-{import_id}-errors.csv",
        ("line", "reason"),
        get_runtime(request).sessions,
        queries.import_errors_after(import_id),
    )
