"""The sends API: a message to an audience, its ledger of deliveries, resending to the
failed, cancelling; and the bounce intake."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import func, select

from services.notifications import bounces, schemas, sends, templates
from services.notifications.access import Communicator, DeliveryReader
from services.notifications.domain import DeliveryStatus, SendStatus
from services.notifications.tables import (
    AudienceMember,
    Contact,
    Delivery,
    Send,
)
from shared.auth import Role
from shared.errors import Conflict, NotFound, RuleViolation
from shared.http import UnitOfWorkDep, require_media_type
from shared.pagination import Limit, Offset, Page, fetch_page
from shared.uow import UnitOfWork

MAY_SEE_CONTACTS = {Role.COMMUNICATOR.value, Role.ADMIN.value}

router = APIRouter(prefix="/v1", tags=["sends"])


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
    require_media_type(request, "message/rfc822")
    reports = await asyncio.to_thread(bounces.from_dsn, await request.body())
    if not reports:
        raise RuleViolation("this e-mail is not a delivery status notification (RFC 3464)")
    async with uow:
        result = await bounces.take(uow, reports)
        await uow.commit()
    return schemas.BounceResult(**result)
